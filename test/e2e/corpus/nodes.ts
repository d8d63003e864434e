// The nodes the corpus runs against, and the images they report (as containerd
// does: tagged name, plus repo@digest when the image was pulled by digest).
import type { NodeSpecInput } from '../../support/objects.js';

const MB = 1_000_000;
export const WORKER_DIGEST = 'sha256:' + 'a1'.repeat(32);
export const OTHER_DIGEST = 'sha256:' + 'b2'.repeat(32);

export const IMAGES = {
  web: 'registry.example/shop/web:1.4',
  api: 'registry.example/shop/api:2.0',
  worker: 'registry.example/shop/worker:3.1',
  busybox: 'docker.io/library/busybox:1.36',
  nginx125: 'docker.io/library/nginx:1.25',
  nginxLatest: 'docker.io/library/nginx:latest',
  agent: 'localhost:5000/tools/agent:0.9',
  sensor: '10.1.2.3:5000/edge/sensor:7',
  proxy: 'ghcr.io/org/sidecar-proxy:1.2',
  trainer: 'quay.io/ml/trainer:5',
  legacy: 'registry.example/shop/legacy:0.1',
} as const;

/**
 * node-a  zone a, ssd   web, api, busybox, nginx:1.25
 * node-b  zone b, hdd   web, worker (by digest), busybox, nginx:latest
 * node-c  zone c        agent (registry with port), busybox
 * node-d  zone a        sensor (IP registry with port), sidecar proxy
 * node-gpu zone b, tainted nvidia.com/gpu=present:NoSchedule   trainer (3 GB), nginx:1.25
 * node-cold zone c      nothing
 * node-cordoned zone a, unschedulable   api, legacy
 */
export const CORPUS_NODES: NodeSpecInput[] = [
  {
    name: 'node-a',
    labels: { zone: 'a', disktype: 'ssd' },
    images: [
      { names: [IMAGES.web], sizeBytes: 100 * MB },
      { names: [IMAGES.api], sizeBytes: 200 * MB },
      { names: [IMAGES.busybox], sizeBytes: 5 * MB },
      { names: [IMAGES.nginx125], sizeBytes: 70 * MB },
    ],
  },
  {
    name: 'node-b',
    labels: { zone: 'b', disktype: 'hdd' },
    images: [
      { names: [IMAGES.web], sizeBytes: 100 * MB },
      { names: [`registry.example/shop/worker@${WORKER_DIGEST}`, IMAGES.worker], sizeBytes: 150 * MB },
      { names: [IMAGES.busybox], sizeBytes: 5 * MB },
      { names: [IMAGES.nginxLatest], sizeBytes: 60 * MB },
    ],
  },
  {
    name: 'node-c',
    labels: { zone: 'c' },
    images: [
      { names: [IMAGES.agent], sizeBytes: 50 * MB },
      { names: [IMAGES.busybox], sizeBytes: 5 * MB },
    ],
  },
  {
    name: 'node-d',
    labels: { zone: 'a' },
    images: [
      { names: [IMAGES.sensor], sizeBytes: 40 * MB },
      { names: [IMAGES.proxy], sizeBytes: 30 * MB },
    ],
  },
  {
    name: 'node-gpu',
    labels: { zone: 'b', accelerator: 'nvidia' },
    taints: [{ key: 'nvidia.com/gpu', value: 'present', effect: 'NoSchedule' }],
    images: [
      { names: [IMAGES.trainer], sizeBytes: 3000 * MB },
      { names: [IMAGES.nginx125], sizeBytes: 70 * MB },
    ],
  },
  { name: 'node-cold', labels: { zone: 'c' } },
  {
    name: 'node-cordoned',
    labels: { zone: 'a' },
    unschedulable: true,
    images: [
      { names: [IMAGES.api], sizeBytes: 200 * MB },
      { names: [IMAGES.legacy], sizeBytes: 80 * MB },
    ],
  },
];
