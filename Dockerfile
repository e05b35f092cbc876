# journeywatch: one process serving the collector (OTLP/HTTP, Zipkin), the store and the API.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY correlators ./correlators
COPY config ./config
RUN pip install . && useradd --system --home /app journeywatch && mkdir -p /app/data \
    && chown journeywatch /app/data
USER journeywatch

# Secrets (JOURNEYWATCH_REDACTION_HMAC_KEY, JOURNEYWATCH_API_TOKEN, SLACK_*) come from the
# environment at run time, never from the image.
EXPOSE 4318 4317
VOLUME ["/app/data"]
CMD ["journeywatch", "serve", "--host", "0.0.0.0", "--port", "4318", "--config", "config/journeys.yaml"]
