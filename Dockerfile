# The bot as a container: the feed and the state are volumes.
#   docker build -t anniversary-bot .
#   docker run -d --name bot --restart on-failure --env-file .env \
#     -v "$PWD/posts:/feed:ro" -v bot-state:/state anniversary-bot
# .env is config.example.env with the credentials filled in. Its BOT_POSTS, BOT_LEDGER
# and BOT_CACHE lines stay commented out: --env-file and -e override the ENV below.
# With BOT_HTTP set (in a container: BOT_HTTP=0.0.0.0:9108 and -p 127.0.0.1:9108:9108 to
# reach it from the host), the HEALTHCHECK asks /healthz; without it, it passes.
# Two bots on one PostgreSQL ledger (one active, one standby): deploy/compose.yaml.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    BOT_POSTS=/feed \
    BOT_LEDGER=/state/ledger.sqlite3 \
    BOT_CACHE=/state/cache

WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
RUN pip install --no-cache-dir '.[mastodon,bluesky,notify,http,postgres]' \
    && useradd --system --home /state bot \
    && mkdir -p /state && chown bot /state

USER bot
VOLUME ["/feed", "/state"]
# docker stop sends SIGTERM: the bot finishes or records the in-flight call, then exits 0.
STOPSIGNAL SIGTERM
# /healthz when BOT_HTTP is set (503: the timer is stopped or stuck, a lane is gone, the
# ledger does not answer); exit 0 without BOT_HTTP.
HEALTHCHECK --interval=30s --timeout=10s --start-period=2m --retries=3 CMD ["python", "-m", "bot.ops.probe"]
CMD ["bot", "run"]
