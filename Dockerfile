# Rewind in a container: the locked dependencies, then the code. Configure with REWIND_* variables.
FROM python:3.11-slim
WORKDIR /app
# In a container `rewind serve` listens on every interface; publish the port (Slack's request URL points at it).
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 REWIND_DATA_DIR=/data REWIND_HOST=0.0.0.0 REWIND_PORT=3978
COPY requirements.lock pyproject.toml README.md ./
RUN pip install --no-cache-dir -r requirements.lock
COPY core ./core
COPY bot ./bot
COPY adapters ./adapters
COPY emulator ./emulator
COPY rewind ./rewind
RUN pip install --no-cache-dir --no-deps --no-build-isolation . && useradd --system --uid 10001 rewind \
    && mkdir /data && chown rewind /data
USER rewind
VOLUME ["/data"]
EXPOSE 3978
HEALTHCHECK CMD ["python", "-c", "import urllib.request as u; u.urlopen('http://127.0.0.1:3978/healthz', timeout=3)"]
ENTRYPOINT ["rewind"]
# `docker run … rewind doctor` checks the configuration; the default is the Slack app with its scheduler.
CMD ["serve"]
