# The cs-pulse worker image: `docker compose up` builds it from this repository.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml constraints.txt README.md ./
COPY streams ./streams
COPY schemas ./schemas
# Editable, so the validator compiles schemas/ in place: the one copy of the contract.
RUN pip install --no-cache-dir --constraint constraints.txt --editable .
EXPOSE 9108
ENTRYPOINT ["pulse"]
CMD ["worker"]
