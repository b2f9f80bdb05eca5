# syntax=docker/dockerfile:1
# Tether: a static binary on a distroless base, run as a non-root user.
#   docker build -t tether .
#   docker run --rm tether --help
# The build stage needs the Go module proxy; the image has no shell.

FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=devel
RUN CGO_ENABLED=0 GOOS=linux go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/tether ./cmd/tether

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/tether /usr/local/bin/tether
COPY deploy/tether.example.yaml /etc/tether/tether.yaml
COPY testdata/inventory.example.yaml /etc/tether/inventory.yaml
# Override any key with TETHER_* variables (README, "Configuration").
ENV TETHER_HTTP_LISTEN=0.0.0.0:9464 \
    TETHER_INVENTORY=/etc/tether/inventory.yaml
# distroless "nonroot"
USER 65532:65532
EXPOSE 9464
ENTRYPOINT ["/usr/local/bin/tether"]
CMD ["run", "--config", "/etc/tether/tether.yaml"]
