"""Telemetry as it arrives, made into the model: OTLP (protobuf and JSON) and Zipkin
decoded, resource facts lifted, attributes redacted, spans matched to journeys, span
metrics counted.

One package, used alike by the collector (what services send), the store, the sources that
read other backends (Tempo's OTLP, Jaeger's resources) and the file reader behind
`journeywatch analyze`, so none of them imports the collector, which only receives,
samples and spools. It imports nothing of theirs: the config sections below it, the
correlators' model beside it.
"""
