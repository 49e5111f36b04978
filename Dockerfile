# One image for the three editdsc services (CPU by default; the GPU override file reserves an NVIDIA device and
# the same image uses CUDA when the runtime provides it: EDSC_DEVICE=auto).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    EDSC_CACHE_DIR=/cache EDSC_BUNDLE=/bundle
WORKDIR /app

# PyPI's torch 2.14.1 wheel is CUDA-capable and also runs on CPU. Pass --build-arg TORCH_INDEX=<a CPU-only wheel
# index> for a smaller CPU image.
ARG TORCH_INDEX=""
COPY pyproject.toml README.md* ./
RUN pip install ${TORCH_INDEX:+--index-url ${TORCH_INDEX}} torch==2.14.1 torchvision==0.29.1
COPY shared ./shared
COPY transmitter ./transmitter
COPY channel_emulator ./channel_emulator
COPY receiver ./receiver
COPY edsc ./edsc
COPY proto ./proto
RUN pip install . && python -m edsc.cli.main weights fetch

RUN useradd --create-home --uid 10001 editdsc && mkdir -p /data /cache && chown -R editdsc /data /cache
USER editdsc
EXPOSE 50051 50052 50053 8080 9101 9102
# docker-compose.yml picks the service: python -m transmitter.server | channel_emulator.server | receiver.server
CMD ["python", "-m", "transmitter.server"]
