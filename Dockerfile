# redis-faster on Debian 12.  Build: docker build -t redis-faster .
# Run:   docker run -p 6379:6379 -v rf-data:/data redis-faster
FROM debian:12
RUN apt-get update && apt-get install -y --no-install-recommends \
        build-essential pkg-config libxxhash-dev libjemalloc-dev liburing-dev \
        libhiredis-dev libcriterion-dev && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN make SKIP_DEPS=1 build/redis-faster && cp build/redis-faster /usr/local/bin/ \
    && cp redis-faster.conf /etc/redis-faster.conf
VOLUME /data
EXPOSE 6379
# Listens on all interfaces inside the container; set requirepass in the
# config (or --requirepass) before exposing it beyond the host.
CMD ["redis-faster", "/etc/redis-faster.conf", "--bind", "0.0.0.0", "--protected-mode", "no", "--dir", "/data"]
