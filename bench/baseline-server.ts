/**
 * The benchmark's yardstick: an express 5 HTTPS app that parses the body and
 * answers allowed: true, doing no admission work at all.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import { join } from 'node:path';
import express from 'express';

const [certDir, portText] = process.argv.slice(2);
if (!certDir || !portText) {
  process.stderr.write('usage: baseline-server CERT_DIR PORT\n');
  process.exit(2);
}
const app = express();
app.use(express.json({ limit: '7mb' }));
app.post('/mutate', (req, res) => {
  const uid = (req.body as { request?: { uid?: string } })?.request?.uid ?? '';
  res.json({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid, allowed: true } });
});
app.get('/healthz', (_req, res) => {
  res.send('ok');
});
const server = createServer(
  { cert: readFileSync(join(certDir, 'tls.crt')), key: readFileSync(join(certDir, 'tls.key')), minVersion: 'TLSv1.2' },
  app,
);
server.keepAliveTimeout = 120_000;
server.listen(Number(portText), '127.0.0.1');
process.on('SIGTERM', () => server.close(() => process.exit(0)));
