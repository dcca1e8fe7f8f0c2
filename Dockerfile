# The cs-pulse worker image: `docker compose up` builds it from this repository.
# It runs as the unprivileged user `pulse` (uid 10001), which owns only /data, the
# worker's state directory (mount a volume there).
FROM python:3.11-slim
RUN useradd --system --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin pulse \
    && mkdir /data && chown pulse:pulse /data
WORKDIR /app
COPY pyproject.toml constraints.txt README.md ./
COPY streams ./streams
COPY schemas ./schemas
# Editable, so the validator compiles schemas/ in place: the one copy of the contract.
RUN pip install --no-cache-dir --constraint constraints.txt --editable .
USER pulse
ENV PULSE_DATA_DIR=/data
EXPOSE 9108
ENTRYPOINT ["pulse"]
CMD ["worker"]
