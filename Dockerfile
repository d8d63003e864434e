# Build: buildah bud -t image-locality .   (or docker build -t image-locality .)
# The runtime image has no shell and no package manager, runs as a non-root user,
# and carries only the compiled JavaScript and production dependencies.
# No "# syntax=" line: that makes BuildKit fetch a frontend image from a registry,
# which an air-gapped builder cannot reach. `npm run image:smoke` builds and runs it.

FROM node:24-bookworm-slim AS build
WORKDIR /app
# Behind a TLS-intercepting proxy, npm needs the proxy's CA: pass it as a build
# secret (a file of PEM certificates); without it the mount is simply absent.
#   buildah bud --secret id=npm_ca,src=proxy-ca.pem .   (docker build: the same flag)
# It is mounted for this one step and never stored in a layer.
COPY package.json package-lock.json ./
RUN --mount=type=secret,id=npm_ca,target=/run/secrets/npm_ca \
    if [ -s /run/secrets/npm_ca ]; then export NODE_EXTRA_CA_CERTS=/run/secrets/npm_ca; fi \
    && npm ci --no-audit --no-fund --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
# Only src/ is compiled (no tests, benchmarks, scripts or source maps).
RUN npx tsc -p tsconfig.build.json \
    && npm prune --omit=dev --no-audit --no-fund --ignore-scripts \
    && find node_modules -type f \( -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' \
         -o -name '*.map' -o -name '*.ts.map' \) -delete \
    && find node_modules -depth -type d \( -name test -o -name tests -o -name __tests__ \) \
         -prune -exec rm -rf {} + \
    && rm -rf node_modules/.package-lock.json

# A static binary that exits 0 (and can copy itself), used by pre-pull pods to
# "run" images that have no shell or binary of their own (distroless, scratch).
FROM golang:1.26-bookworm AS exit0
WORKDIR /src
COPY tools/exit0 ./
RUN CGO_ENABLED=0 GOTOOLCHAIN=local go build -trimpath -ldflags="-s -w" -o /exit0 .

FROM gcr.io/distroless/nodejs24-debian12:nonroot
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist/src ./dist/src
COPY examples ./examples
COPY --from=exit0 /exit0 /usr/local/bin/image-locality-exit0
USER 65532:65532
EXPOSE 8443
ENTRYPOINT ["/nodejs/bin/node", "/app/dist/src/cli.js"]
CMD ["serve", "--cert-dir", "/etc/image-locality/certs"]
