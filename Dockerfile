# Builds a static gateway binary (pure Go: the embedded SQLite needs no cgo).
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/gateway ./cmd/gateway

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/gateway /gateway
WORKDIR /home/nonroot
EXPOSE 8080
ENTRYPOINT ["/gateway"]
CMD ["serve"]
