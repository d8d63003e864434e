# syntax=docker/dockerfile:1
# Build: docker build -t image-locality .
# The runtime image has no shell and no package manager, runs as a non-root user,
# and carries only the compiled JavaScript and production dependencies.

FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
COPY test ./test
COPY bench ./bench
COPY scripts ./scripts
RUN npx tsc -p tsconfig.json && npm prune --omit=dev

# A static binary that exits 0 (and can copy itself), used by pre-pull pods to
# "run" images that have no shell or binary of their own (distroless, scratch).
FROM golang:1.26-bookworm AS exit0
WORKDIR /src
COPY tools/exit0 ./
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /exit0 .

FROM gcr.io/distroless/nodejs20-debian12:nonroot
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
