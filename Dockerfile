# One image for every subcommand (controller, agent, crd, sandbox).
# Not built in this repository's CI: the build machines have no container engine.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p multi-eni

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/multi-eni /usr/local/bin/multi-eni
USER 0
ENTRYPOINT ["/usr/local/bin/multi-eni"]
