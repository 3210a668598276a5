package dev.flashtrail.client;

import java.nio.charset.CharacterCodingException;
import java.security.GeneralSecurityException;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.time.temporal.ChronoUnit;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.function.Supplier;
import java.util.regex.Pattern;

/**
 * Ledger events: building and signing them at the source with the stream's {@code prev} chain, and
 * decoding envelopes from elsewhere with every byte rule the ledger enforces (src/event/codec.ts).
 */
public final class Events {
  private Events() {}

  public static final String EVENT_PAYLOAD_TYPE = "application/vnd.flashtrail.event.v1+json";

  /**
   * Every event type, its source kind and the schema versions a ledger writes of it, mirroring schemas/event.ts
   * (unitEventVersions, adminEventVersions, ledgerEventVersions). test/client-versions.unit.test.ts fails when the
   * two drift: add a type or version there and here together.
   */
  // event-versions:begin
  private static final List<TypeVersions> EVENT_VERSIONS = List.of(
      type("UnitScanned", "station", 1, 2),
      type("BootloaderWritten", "station", 1),
      type("AppVerified", "station", 1),
      type("ProvisioningApplied", "station", 1, 2),
      type("EfuseBurned", "station", 1, 2),
      type("StepFailed", "station", 1, 2),
      type("UnitReworked", "station", 1, 2),
      type("UnitScrapped", "station", 1, 2),
      type("UnitShipped", "station", 1, 2),
      type("IdentityRead", "station", 1),
      type("StepStarted", "station", 1),
      type("ImagesWritten", "station", 1),
      type("ImagesVerified", "station", 1),
      type("SecurityStateRead", "station", 1),
      type("UnitLocked", "station", 1),
      type("FirmwareUpdated", "station", 1),
      type("StationRegistered", "admin", 1, 2, 3),
      type("StationKeyRegistered", "admin", 1),
      type("StationKeyRevoked", "admin", 1),
      type("ReleaseApproved", "admin", 1, 2),
      type("BatchOpened", "admin", 1),
      type("BatchClosed", "admin", 1),
      type("SbomAttached", "admin", 1),
      type("SupportPeriodSet", "admin", 1),
      type("VulnerabilityAssessed", "admin", 1),
      type("VulnerabilityAwareness", "admin", 1),
      type("CraReportSubmitted", "admin", 1),
      type("AdminKeysTrusted", "ledger", 1),
      type("CheckpointIssued", "ledger", 1, 2),
      type("ScittStatementRegistered", "ledger", 1),
      type("LedgerKeyAnnounced", "ledger", 1),
      type("LedgerKeyRotated", "ledger", 1, 2),
      type("NotificationListProduced", "ledger", 1));
  // event-versions:end

  private record TypeVersions(String type, String kind, Set<Integer> versions) {}

  private static TypeVersions type(String type, String kind, Integer... versions) {
    return new TypeVersions(type, kind, Set.of(versions));
  }

  private static List<String> typesOf(String kind) {
    return EVENT_VERSIONS.stream().filter((t) -> t.kind().equals(kind)).map(TypeVersions::type).toList();
  }

  public static final List<String> UNIT_EVENT_TYPES = typesOf("station");
  public static final List<String> ADMIN_EVENT_TYPES = typesOf("admin");
  public static final List<String> LEDGER_EVENT_TYPES = typesOf("ledger");

  /** What this client signs: the first version of each type (the fixed sequence's data is version 1's shape). */
  public static final Map<String, Integer> SCHEMA_VERSIONS;
  /** What it reads: every version a ledger may have written (docs/format.md §2.5). */
  public static final Map<String, Set<Integer>> READABLE_VERSIONS;

  static {
    Map<String, Integer> signed = new HashMap<>();
    Map<String, Set<Integer>> readable = new HashMap<>();
    for (TypeVersions t : EVENT_VERSIONS) {
      signed.put(t.type(), 1);
      readable.put(t.type(), t.versions());
    }
    SCHEMA_VERSIONS = Map.copyOf(signed);
    READABLE_VERSIONS = Map.copyOf(readable);
  }

  public static String sourceKind(String type) {
    for (TypeVersions t : EVENT_VERSIONS) if (t.type().equals(type)) return t.kind();
    throw new IllegalArgumentException("unknown event type " + type);
  }

  /** The stream an event belongs to follows from its type and data (src/event/streams.ts). */
  public static String streamOf(Map<String, Object> event) {
    String type = Json.string(event.get("type"), "type");
    Map<String, Object> data = Json.object(event.get("data"), "data");
    switch (type) {
      case "StationRegistered":
      case "StationKeyRegistered":
      case "StationKeyRevoked":
        return "station-" + Json.string(data.get("stationId"), "data.stationId");
      case "ReleaseApproved":
      case "SbomAttached":
      case "SupportPeriodSet":
        return "release-" + Json.string(data.get("releaseId"), "data.releaseId");
      case "VulnerabilityAssessed":
      case "VulnerabilityAwareness":
      case "CraReportSubmitted":
        return "vuln-" + Json.string(data.get("vulnerabilityId"), "data.vulnerabilityId");
      case "LedgerKeyAnnounced":
        return "ledger-keys";
      case "LedgerKeyRotated":
        return "ledger-key-rotations";
      case "ScittStatementRegistered":
        return "ledger-statement-" + Json.string(data.get("serial"), "data.serial");
      case "NotificationListProduced":
        return "ledger-notifications-" + Json.string(data.get("vulnerabilityId"), "data.vulnerabilityId");
      case "BatchOpened":
      case "BatchClosed":
        return "batch-" + Json.string(data.get("batchId"), "data.batchId");
      case "AdminKeysTrusted":
        return "ledger-trust";
      case "CheckpointIssued":
        return "ledger-checkpoints";
      default:
        return "unit-" + Json.string(data.get("serial"), "data.serial");
    }
  }

  private static final DateTimeFormatter ISO_MILLIS = DateTimeFormatter.ofPattern("yyyy-MM-dd'T'HH:mm:ss.SSS'Z'").withZone(ZoneOffset.UTC);

  /** UTC with millisecond precision and a Z, as the schema requires: 2026-03-02T08:15:30.125Z. */
  public static String isoMillis(Instant moment) {
    return ISO_MILLIS.format(moment.truncatedTo(ChronoUnit.MILLIS));
  }

  /** The DSSE envelope of an event: its RFC 8785 bytes as the payload, one Ed25519 signature over PAE. */
  public static Map<String, Object> signEvent(Map<String, Object> event, Ed25519.SigningKey key) throws GeneralSecurityException {
    return Dsse.signEnvelope(EVENT_PAYLOAD_TYPE, Jcs.canonicalBytes(event), key);
  }

  public static final class SignedEvent {
    public final Map<String, Object> event;
    public final Map<String, Object> envelope;
    public final String digest;
    public final String stream;

    SignedEvent(Map<String, Object> event, Map<String, Object> envelope, String digest, String stream) {
      this.event = event;
      this.envelope = envelope;
      this.digest = digest;
      this.stream = stream;
    }
  }

  /**
   * Builds and signs events for one source (a station id, or an administrator's name), keeping each
   * stream's hash chain: an event's {@code prev} is the digest of the envelope signed before it in its
   * stream. For a stream this signer did not start (a unit scanned elsewhere, a restart), tell it the head
   * first ({@link #setHead}, e.g. from {@link LedgerClient#streamHead}).
   */
  public static final class EventSigner {
    private final Ed25519.SigningKey key;
    private final String sourceId;
    private final Supplier<Instant> clock;
    private final Map<String, String> heads = new HashMap<>();

    public EventSigner(Ed25519.SigningKey key, String sourceId) {
      this(key, sourceId, Instant::now);
    }

    public EventSigner(Ed25519.SigningKey key, String sourceId, Supplier<Instant> clock) {
      this.key = key;
      this.sourceId = sourceId;
      this.clock = clock;
    }

    public void setHead(String stream, String digest) {
      heads.put(stream, digest);
    }

    public String head(String stream) {
      return heads.get(stream);
    }

    public SignedEvent sign(String type, Map<String, Object> data) throws GeneralSecurityException {
      return sign(type, data, UUID.randomUUID().toString(), clock.get());
    }

    /** With a chosen id (a retry must reuse it: appends are idempotent by id) and time. */
    public SignedEvent sign(String type, Map<String, Object> data, String eventId, Instant occurredAt) throws GeneralSecurityException {
      Integer version = SCHEMA_VERSIONS.get(type);
      if (version == null) throw new IllegalArgumentException("unknown event type " + type);
      Map<String, Object> event = new LinkedHashMap<>();
      event.put("id", eventId);
      event.put("type", type);
      event.put("schemaVersion", version);
      event.put("occurredAt", isoMillis(occurredAt));
      event.put("source", Json.obj("kind", sourceKind(type), "id", sourceId));
      event.put("prev", null);
      event.put("data", data);
      String stream = streamOf(event);
      event.put("prev", heads.get(stream));
      Map<String, Object> envelope = signEvent(event, key);
      String digest = Dsse.envelopeDigest(envelope);
      heads.put(stream, digest);
      return new SignedEvent(event, envelope, digest, stream);
    }
  }

  // ---- decoding envelopes from elsewhere ------------------------------------------------------------

  /** {@link #code} is the ledger's: ENVELOPE_INVALID, PAYLOAD_NOT_CANONICAL or SCHEMA_INVALID. */
  public static final class EnvelopeDecodeException extends Exception {
    private static final long serialVersionUID = 1L;
    public final String code;

    EnvelopeDecodeException(String code, String message) {
      super(message);
      this.code = code;
    }
  }

  public static final class DecodedEvent {
    public final Map<String, Object> envelope;
    public final Map<String, Object> event;
    public final byte[] bytes;
    public final String digest;

    DecodedEvent(Map<String, Object> envelope, Map<String, Object> event, byte[] bytes) {
      this.envelope = envelope;
      this.event = event;
      this.bytes = bytes;
      this.digest = Hex.encode(Ed25519.sha(bytes, "SHA-256"));
    }

    public String keyId() {
      return (String) Json.object(Json.array(envelope.get("signatures"), "signatures").get(0), "signature").get("keyid");
    }
  }

  static final Pattern HEX64 = Pattern.compile("[0-9a-f]{64}");
  private static final Pattern UUID_PATTERN = Pattern.compile("[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}");
  private static final Pattern TIMESTAMP = Pattern.compile("\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}\\.\\d{3}Z");
  private static final Pattern IDENTIFIER = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._:-]{0,63}");

  /**
   * Every rule the ledger has on the bytes: the DSSE shape with flashtrail's payload type and exactly one
   * signature, canonical base64, strict UTF-8, bounded nesting, an RFC 8785 canonical payload, and the
   * members of an event. (The ledger also checks each type's data against its schema; see schemas/json.)
   */
  public static DecodedEvent decodeUntrustedEnvelope(Object input) throws EnvelopeDecodeException {
    Map<String, Object> envelope = envelopeShape(input);
    if (envelope == null) throw new EnvelopeDecodeException("ENVELOPE_INVALID", "not a DSSE envelope of " + EVENT_PAYLOAD_TYPE + " with one signature");
    String payloadText;
    try {
      payloadText = Json.utf8(Hex.base64Canonical((String) envelope.get("payload")));
      String sig = (String) Json.object(Json.array(envelope.get("signatures"), "signatures").get(0), "signature").get("sig");
      if (Hex.base64Canonical(sig).length != 64) throw new IllegalArgumentException("the signature is not 64 bytes");
    } catch (IllegalArgumentException | CharacterCodingException e) {
      throw new EnvelopeDecodeException("ENVELOPE_INVALID", "payload or signature is not canonical base64 of UTF-8: " + e.getMessage());
    }
    if (Jcs.jsonNestingDepth(payloadText) > Jcs.DEFAULT_MAX_DEPTH) throw new EnvelopeDecodeException("ENVELOPE_INVALID", "the payload is nested deeper than " + Jcs.DEFAULT_MAX_DEPTH + " levels");
    Object event;
    try {
      event = Json.parse(payloadText);
    } catch (Json.ParseException e) {
      throw new EnvelopeDecodeException("ENVELOPE_INVALID", "the payload is not JSON: " + e.getMessage());
    }
    String canonical;
    try {
      canonical = Jcs.canonicalize(event);
    } catch (Jcs.CanonicalizationException e) {
      throw new EnvelopeDecodeException("PAYLOAD_NOT_CANONICAL", "the payload has no RFC 8785 form: " + e.getMessage());
    }
    if (!canonical.equals(payloadText)) throw new EnvelopeDecodeException("PAYLOAD_NOT_CANONICAL", "the payload must be RFC 8785 canonical JSON (sorted members, no whitespace, no duplicate members, shortest numbers)");
    return new DecodedEvent(envelope, checkEventMembers(event), Dsse.envelopeBytes(envelope));
  }

  private static Map<String, Object> envelopeShape(Object input) {
    if (!(input instanceof Map)) return null;
    Map<String, Object> envelope = Json.object(input, "envelope");
    if (!envelope.keySet().equals(Set.of("payloadType", "payload", "signatures"))) return null;
    if (!EVENT_PAYLOAD_TYPE.equals(envelope.get("payloadType"))) return null;
    if (!(envelope.get("payload") instanceof String)) return null;
    int length = ((String) envelope.get("payload")).length();
    if (length < 1 || length > 256 * 1024) return null;
    if (!(envelope.get("signatures") instanceof List)) return null;
    List<Object> signatures = Json.array(envelope.get("signatures"), "signatures");
    if (signatures.size() != 1 || !(signatures.get(0) instanceof Map)) return null;
    Map<String, Object> sig = Json.object(signatures.get(0), "signature");
    if (!sig.keySet().equals(Set.of("keyid", "sig"))) return null;
    if (!(sig.get("keyid") instanceof String) || !HEX64.matcher((String) sig.get("keyid")).matches()) return null;
    if (!(sig.get("sig") instanceof String) || ((String) sig.get("sig")).length() != 88) return null;
    return envelope;
  }

  private static Map<String, Object> checkEventMembers(Object parsed) throws EnvelopeDecodeException {
    if (!(parsed instanceof Map)) throw schema("(root)", "an event is a JSON object");
    Map<String, Object> event = Json.object(parsed, "event");
    Set<String> expected = Set.of("id", "type", "schemaVersion", "occurredAt", "source", "prev", "data");
    for (String name : expected) if (!event.containsKey(name)) throw schema(name, "missing");
    for (String name : event.keySet()) if (!expected.contains(name)) throw schema(name, "unknown member");
    Object type = event.get("type");
    if (!(type instanceof String) || !SCHEMA_VERSIONS.containsKey(type)) throw schema("type", "unknown event type " + type);
    Object version = event.get("schemaVersion");
    Set<Integer> versions = READABLE_VERSIONS.get(type);
    boolean readable = version instanceof Double && (Double) version == Math.rint((Double) version) && versions.contains(((Double) version).intValue());
    if (!readable) throw schema("schemaVersion", type + " is schema version " + versions.stream().sorted().map(String::valueOf).collect(java.util.stream.Collectors.joining(" or ")));
    if (!(event.get("id") instanceof String) || !UUID_PATTERN.matcher((String) event.get("id")).matches()) throw schema("id", "a UUID");
    if (!(event.get("occurredAt") instanceof String) || !TIMESTAMP.matcher((String) event.get("occurredAt")).matches()) throw schema("occurredAt", "UTC with millisecond precision, e.g. 2026-01-31T12:00:00.000Z");
    Object source = event.get("source");
    String kind = sourceKind((String) type);
    if (!(source instanceof Map) || !Json.object(source, "source").keySet().equals(Set.of("kind", "id")) || !kind.equals(Json.object(source, "source").get("kind"))
        || !(Json.object(source, "source").get("id") instanceof String) || !IDENTIFIER.matcher((String) Json.object(source, "source").get("id")).matches()) {
      throw schema("source", "{kind: '" + kind + "', id: <identifier>}");
    }
    Object prev = event.get("prev");
    if (prev != null && !(prev instanceof String && HEX64.matcher((String) prev).matches())) throw schema("prev", "null or a lowercase hex SHA-256 digest");
    if (!(event.get("data") instanceof Map)) throw schema("data", "a JSON object");
    String stream;
    try {
      stream = streamOf(event);
    } catch (IllegalArgumentException e) {
      stream = null;
    }
    if (stream == null || !IDENTIFIER.matcher(stream.contains("-") ? stream.substring(stream.indexOf('-') + 1) : stream).matches()) throw schema("data", "does not name the stream of a " + type + " event");
    return event;
  }

  private static EnvelopeDecodeException schema(String path, String message) {
    return new EnvelopeDecodeException("SCHEMA_INVALID", path + ": " + message);
  }
}
