# syntax=docker/dockerfile:1
#
# adminql container image.
#
#   docker build -t REGISTRY/adminql:TAG .
#
# Stages:
#   graphiql  fetches the GraphiQL browser assets from the npm registry (node + npm live only here)
#   adminui   builds the admin UI (web/, react-admin, Vite 6) with the packages pinned by its lock file
#             (scripts/build-admin-ui accepts Node 18, 20 or 22+: Debian 12's own Node 18, which
#             scripts/run installs, or this image's Node 20; tests/it/cli.rs keeps the two in step)
#   chef      Rust toolchain + cargo-chef
#   planner   computes the dependency recipe from the manifests (changes only when dependencies change)
#   builder   builds the dependencies from the recipe (cached layer), then the application
#   runtime   distroless cc (glibc, libgcc, CA certificates, tzdata): the binary and nothing else,
#             running as the fixed non-root user 65532 ("nonroot")
#
# No secret is used or stored at build time: JWT_SECRET, database URLs and the bootstrap admin
# come from the environment at run time (see manifests/ and docs/deploy.md).
#
# Keep the builder on bookworm: the runtime is Debian 12 and the binary links against its glibc.

FROM node:20-bookworm-slim AS graphiql
WORKDIR /build
COPY scripts/fetch-graphiql-assets ./fetch-graphiql-assets
RUN bash ./fetch-graphiql-assets /graphiql

FROM node:20-bookworm-slim AS adminui
WORKDIR /build
# The packages first: this layer is reused until web/package-lock.json changes.
WORKDIR /build/web
COPY web/package.json web/package-lock.json ./
RUN npm ci --no-audit --no-fund --ignore-scripts \
    && cp package-lock.json node_modules/.adminql-lock
WORKDIR /build
COPY schema.graphql ./
COPY web/ web/
COPY scripts/build-admin-ui scripts/
RUN bash scripts/build-admin-ui /admin-ui

FROM rust:1.95-bookworm AS chef
# Strip symbols as well as debug info in the image build: the binary is most of the image's size.
ENV CARGO_PROFILE_RELEASE_STRIP=symbols \
    CARGO_TERM_COLOR=never
RUN cargo install cargo-chef --locked --version 0.1.77
WORKDIR /app

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
COPY --from=planner /app/recipe.json recipe.json
# Dependencies only: this layer is reused until Cargo.toml or Cargo.lock change.
RUN cargo chef cook --release --locked --recipe-path recipe.json
COPY --from=graphiql /graphiql /graphiql
COPY --from=adminui /admin-ui /admin-ui
ENV ADMINQL_GRAPHIQL_DIR=/graphiql \
    ADMINQL_ADMIN_UI_DIR=/admin-ui
COPY . .
RUN cargo build --release --locked --bin adminql \
    && install -D -m 0755 target/release/adminql /out/adminql

FROM gcr.io/distroless/cc-debian12:nonroot AS runtime
LABEL org.opencontainers.image.title="adminql" \
      org.opencontainers.image.description="GraphQL admin backend for users, roles and permissions" \
      org.opencontainers.image.licenses="MIT OR Apache-2.0"
COPY --from=builder /out/adminql /usr/local/bin/adminql
# The nonroot user's home: `docker run` without a DATABASE_URL keeps its embedded SQLite file here.
WORKDIR /home/nonroot
USER 65532:65532
ENV LISTEN_ADDR=0.0.0.0:8080
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/adminql"]
CMD ["serve"]
