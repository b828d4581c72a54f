# Rewind in a container: the locked dependencies, then the code. Configure with REWIND_* variables.
FROM python:3.11-slim
WORKDIR /app
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 REWIND_DATA_DIR=/data
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
ENTRYPOINT ["rewind"]
CMD ["doctor"]
