# syntax=docker/dockerfile:1
# deploybot: one static binary with every subcommand (gateway, worker,
# argocd-sim, playground, dev, probe, ...). Build with
#   make image            (stamps version, commit and date)
# or
#   docker build --build-arg VERSION=v1.2.3 --build-arg COMMIT=$(git rev-parse HEAD) -t deploybot:v1.2.3 .
FROM golang:1.26-bookworm AS build
WORKDIR /src
ENV CGO_ENABLED=0
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download
COPY . .
ARG VERSION=dev
ARG COMMIT=unknown
ARG DATE=unknown
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    go build -trimpath \
      -ldflags "-s -w \
        -X github.com/deploybot/deploybot/internal/version.Version=${VERSION} \
        -X github.com/deploybot/deploybot/internal/version.Commit=${COMMIT} \
        -X github.com/deploybot/deploybot/internal/version.Date=${DATE}" \
      -o /out/deploybot ./cmd/deploybot

# distroless: no shell, no package manager; health checks run `deploybot probe`.
FROM gcr.io/distroless/static-debian12:nonroot
ARG VERSION=dev
ARG COMMIT=unknown
ARG DATE=unknown
LABEL org.opencontainers.image.title="deploybot" \
      org.opencontainers.image.description="Approval-gated Argo CD syncs and rollbacks from Slack, run durably on Temporal" \
      org.opencontainers.image.source="https://github.com/deploybot/deploybot" \
      org.opencontainers.image.url="https://github.com/deploybot/deploybot" \
      org.opencontainers.image.documentation="https://github.com/deploybot/deploybot/blob/main/docs/operations.md" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${COMMIT}" \
      org.opencontainers.image.created="${DATE}" \
      org.opencontainers.image.base.name="gcr.io/distroless/static-debian12:nonroot"
COPY --from=build /out/deploybot /usr/local/bin/deploybot
# Numeric, so a pod with runAsNonRoot can verify it without /etc/passwd.
USER 65532:65532
# gateway and worker health/metrics (HTTP_PORT), simulator, playground.
EXPOSE 8080 8081 8090
ENTRYPOINT ["/usr/local/bin/deploybot"]
CMD ["--help"]
