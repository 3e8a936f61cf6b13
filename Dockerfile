# pushserver: WebSocket push server (subscribers on 5222, publishers on 5223).
FROM denoland/deno:2.9.6

WORKDIR /app
RUN mkdir -p /data && chown deno:deno /app /data
USER deno

# Dependencies first: this layer stays cached until deno.json or deno.lock change.
COPY --chown=deno:deno deno.json deno.lock ./
RUN deno install --frozen

COPY --chown=deno:deno main.ts ./
COPY --chown=deno:deno src/ ./src/
# Cache the entry point and the bcrypt worker (a Worker loaded at run time) ahead of start.
RUN deno install --frozen --entrypoint main.ts src/channels/_bcrypt_worker.ts

ENV HOST=0.0.0.0 \
    PORT_WS=5222 \
    PORT_HTTP=5223 \
    DB_PATH=/data/pushserver.db \
    LOG_LEVEL=info
EXPOSE 5222 5223
VOLUME ["/data"]

HEALTHCHECK --interval=15s --timeout=5s --start-period=10s --retries=3 \
  CMD ["deno", "eval", "const r = await fetch(`http://127.0.0.1:${Deno.env.get('PORT_HTTP') ?? 5223}/healthz`).catch(() => null); Deno.exit(r?.ok ? 0 : 1);"]

# The image's entrypoint runs `deno` with these arguments; SIGTERM triggers a graceful stop.
CMD ["run", "--cached-only", "--allow-net", "--allow-env", "--allow-read", "--allow-write", "main.ts"]
