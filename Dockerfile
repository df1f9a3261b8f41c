# One image for both programs: `multi-eni controller` (the Deployment) and `multi-eni agent` (the
# DaemonSet). It is built without the `sandbox` feature, so the image carries neither the
# Kubernetes API double nor the EC2 simulator.
#
# Multi-arch, from the repository root (BuildKit; each platform is compiled natively, under QEMU
# emulation for the foreign one — slow but needs no cross toolchain for aws-lc's C code):
#
#   docker buildx build --platform linux/amd64,linux/arm64 \
#     -t ghcr.io/multi-eni/multi-eni:0.1.0 --push .
#
# Not built in this repository's CI (no container engine there); CI runs
# `cargo check -p multi-eni --no-default-features` instead.

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
# The caches keep the registry and the target dir between builds; the binary is copied out of the
# cache mount so the next stage can take it.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --profile image --locked -p multi-eni --no-default-features \
    && cp target/image/multi-eni /multi-eni

# distroless/cc: glibc, libgcc and CA certificates, no shell, no package manager. Not a static
# musl binary on scratch: aws-lc-rs (TLS for the Kubernetes and AWS clients) compiles C code, and
# glibc keeps that build the same one CI tests.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /multi-eni /usr/local/bin/multi-eni
# uid 65532 (`nonroot`); the agent's DaemonSet runs it as root for itself (hostPath state).
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/multi-eni"]
