# The bot as a container: the feed and the state are volumes.
#   docker build -t anniversary-bot .
#   docker run -d --name bot --env-file .env \
#     -v "$PWD/posts:/feed:ro" -v bot-state:/state anniversary-bot
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    BOT_POSTS=/feed \
    BOT_LEDGER=/state/ledger.sqlite3

WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
RUN pip install --no-cache-dir '.[mastodon,bluesky]' \
    && useradd --system --home /state bot \
    && mkdir -p /state && chown bot /state

USER bot
VOLUME ["/feed", "/state"]
# docker stop sends SIGTERM: the bot finishes or records the in-flight call, then exits 0.
STOPSIGNAL SIGTERM
CMD ["bot", "run"]
