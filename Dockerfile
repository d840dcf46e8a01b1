# deploybot: one static binary with every subcommand (gateway, worker, argocd-sim, dev).
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X github.com/deploybot/deploybot/internal/version.Version=${VERSION}" \
      -o /out/deploybot ./cmd/deploybot

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/deploybot /usr/local/bin/deploybot
USER nonroot:nonroot
EXPOSE 8080 8081
ENTRYPOINT ["/usr/local/bin/deploybot"]
CMD ["--help"]
