package dev.flashtrail.client;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Offline verification of a unit's provenance document ({@code flashtrail.provenance.v1}), trusting
 * nothing but the ledger's pinned verifier key. The same ordered steps and stable error codes as the
 * ledger's own verifier (src/verify/provenance.ts), so both give the same verdict on the same document:
 *
 * <pre>format → checkpoint → envelopes → trust → stations → unit → inclusion</pre>
 *
 * The ledger key signs the checkpoint (a C2SP signed note) and the AdminKeysTrusted records; the
 * administrator keys they name sign the station key registrations; those keys sign the unit's events,
 * which must chain by {@code prev}; every envelope must be its leaf of the checkpointed RFC 6962 tree
 * (C2SP tlog-proof). A key counts for an event when its registration precedes the event in the log and no
 * revocation does.
 */
public final class Provenance {
  private Provenance() {}

  public static final String PROVENANCE_FORMAT = "flashtrail.provenance.v1";
  public static final String TLOG_PROOF_HEADER = "c2sp.org/tlog-proof@v1";

  /** {@link #code} is stable (SIGNATURE_ERROR, CHAIN_BROKEN, …); {@link #step} names the step; {@link #location} the entry. */
  public static final class VerificationException extends Exception {
    private static final long serialVersionUID = 1L;
    public final String code;
    public final String step;
    public final transient Map<String, Object> location;

    VerificationException(String code, String step, String message, Map<String, Object> location) {
      super(message);
      this.code = code;
      this.step = step;
      this.location = location;
    }
  }

  // ---- signed notes and checkpoints (C2SP) ------------------------------------------------------------

  public static final class NoteKey {
    public final String name;
    public final String id;
    final byte[] publicKey;

    NoteKey(String name, String id, byte[] publicKey) {
      this.name = name;
      this.id = id;
      this.publicKey = publicKey;
    }
  }

  public static String noteKeyId(String name, byte[] publicKey) {
    byte[] n = name.getBytes(StandardCharsets.UTF_8);
    byte[] input = Arrays.copyOf(n, n.length + 2 + publicKey.length);
    input[n.length] = 0x0a;
    input[n.length + 1] = 0x01;
    System.arraycopy(publicKey, 0, input, n.length + 2, publicKey.length);
    return Hex.encode(Arrays.copyOf(Ed25519.sha(input, "SHA-256"), 4));
  }

  /** {@code <name>+<hex key id>+<base64(0x01 || public key)>}, as golang.org/x/mod/sumdb/note prints it. */
  public static NoteKey parseVerifierKey(String text) {
    Matcher m = Pattern.compile("([^+]+)\\+([^+]+)\\+(.+)", Pattern.DOTALL).matcher(text.strip());
    if (!m.matches()) throw new IllegalArgumentException("a verifier key is <name>+<hex key id>+<base64 key>");
    String name = m.group(1);
    String id = m.group(2);
    if (Pattern.compile("[\\s+]").matcher(name).find()) throw new IllegalArgumentException("verifier key: the name must not contain spaces or '+'");
    byte[] raw;
    try {
      raw = Hex.base64Canonical(m.group(3));
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("verifier key: the key is not base64");
    }
    if (raw.length != 33 || raw[0] != 0x01) throw new IllegalArgumentException("verifier key: only Ed25519 keys (type 0x01) are supported");
    byte[] publicKey = Arrays.copyOfRange(raw, 1, 33);
    if (!id.matches("[0-9a-f]{8}") || !noteKeyId(name, publicKey).equals(id)) throw new IllegalArgumentException("verifier key: the key id does not match the name and key");
    return new NoteKey(name, id, publicKey);
  }

  private static final Pattern NOTE_CONTROL = Pattern.compile("[\\x00-\\x09\\x0b-\\x1f]");
  private static final Pattern SIGNATURE_LINE = Pattern.compile("\u2014 (\\S+) ([A-Za-z0-9+/=]+)");

  /**
   * The text of a signed note with at least one valid signature by a known key. Signatures by unknown keys
   * are ignored (room for witness cosignatures); a failing signature by a known key rejects the note.
   */
  public static String verifyNote(String note, List<NoteKey> keys) {
    if (NOTE_CONTROL.matcher(note).find()) throw new IllegalArgumentException("note contains control characters");
    int split = note.lastIndexOf("\n\n");
    if (split < 0 || !note.endsWith("\n")) throw new IllegalArgumentException("malformed note: no blank line before the signatures");
    String text = note.substring(0, split + 1);
    String[] lines = note.substring(split + 2, note.length() - 1).split("\n", -1);
    if (lines.length > 100) throw new IllegalArgumentException("note has too many signatures");
    int verified = 0;
    for (String line : lines) {
      Matcher m = SIGNATURE_LINE.matcher(line);
      if (!m.matches()) throw new IllegalArgumentException("malformed signature line " + Jcs.canonicalize(line));
      byte[] raw = Hex.base64Canonical(m.group(2));
      if (raw.length < 5) throw new IllegalArgumentException("signature too short");
      String id = Hex.encode(Arrays.copyOf(raw, 4));
      NoteKey key = null;
      for (NoteKey k : keys) if (k.name.equals(m.group(1)) && k.id.equals(id)) key = k;
      if (key == null) continue;
      if (!Ed25519.verify(Arrays.copyOfRange(raw, 4, raw.length), text.getBytes(StandardCharsets.UTF_8), key.publicKey)) {
        throw new IllegalArgumentException("signature by " + key.name + " does not verify");
      }
      verified++;
    }
    if (verified == 0) throw new IllegalArgumentException("no signature by a trusted key");
    return text;
  }

  public static final class Checkpoint {
    public final String origin;
    public final long size;
    public final byte[] root;

    Checkpoint(String origin, long size, byte[] root) {
      this.origin = origin;
      this.size = size;
      this.root = root;
    }
  }

  public static Checkpoint parseCheckpointBody(String text) {
    String[] lines = text.split("\n", -1);
    if (lines.length < 4 || !lines[lines.length - 1].isEmpty()) throw new IllegalArgumentException("a checkpoint has origin, size and root lines");
    if (lines[0].isEmpty()) throw new IllegalArgumentException("empty origin");
    if (!lines[1].matches("0|[1-9][0-9]{0,15}") || Long.parseLong(lines[1]) > 9007199254740991L) throw new IllegalArgumentException("bad tree size " + lines[1]);
    byte[] root;
    try {
      root = Hex.base64Canonical(lines[2]);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("root hash is not base64");
    }
    if (root.length != 32) throw new IllegalArgumentException("root hash is not 32 bytes");
    return new Checkpoint(lines[0], Long.parseLong(lines[1]), root);
  }

  static final class TlogProof {
    final long index;
    final List<byte[]> hashes;
    final String checkpoint;

    TlogProof(long index, List<byte[]> hashes, String checkpoint) {
      this.index = index;
      this.hashes = hashes;
      this.checkpoint = checkpoint;
    }
  }

  static TlogProof parseTlogProof(String text) {
    String[] lines = text.split("\n", -1);
    int i = 0;
    if (!lines[i++].equals(TLOG_PROOF_HEADER)) throw new IllegalArgumentException("a tlog proof starts with " + TLOG_PROOF_HEADER);
    if (i < lines.length && lines[i].startsWith("extra ")) Hex.base64Canonical(lines[i++].substring(6));
    Matcher index = Pattern.compile("index (0|[1-9][0-9]{0,15})").matcher(i < lines.length ? lines[i++] : "");
    if (!index.matches()) throw new IllegalArgumentException("missing index line");
    List<byte[]> hashes = new ArrayList<>();
    while (i < lines.length && !lines[i].isEmpty()) {
      byte[] h = Hex.base64Canonical(lines[i++]);
      if (h.length != 32) throw new IllegalArgumentException("proof hash is not 32 bytes");
      hashes.add(h);
    }
    if (i >= lines.length || !lines[i++].isEmpty()) throw new IllegalArgumentException("missing blank line before the checkpoint");
    return new TlogProof(Long.parseLong(index.group(1)), hashes, String.join("\n", Arrays.asList(lines).subList(i, lines.length)));
  }

  // ---- RFC 6962 / RFC 9162 Merkle tree ----------------------------------------------------------------

  public static byte[] leafHash(byte[] data) {
    byte[] input = new byte[data.length + 1];
    System.arraycopy(data, 0, input, 1, data.length);
    return Ed25519.sha(input, "SHA-256");
  }

  public static byte[] nodeHash(byte[] left, byte[] right) {
    byte[] input = new byte[65];
    input[0] = 1;
    System.arraycopy(left, 0, input, 1, 32);
    System.arraycopy(right, 0, input, 33, 32);
    return Ed25519.sha(input, "SHA-256");
  }

  /** RFC 9162 §2.1.3.2. */
  public static boolean verifyInclusion(byte[] leaf, long index, long size, List<byte[]> proof, byte[] root) {
    if (index < 0 || index >= size) return false;
    long fn = index;
    long sn = size - 1;
    byte[] r = leaf;
    for (byte[] p : proof) {
      if (sn == 0) return false;
      if (fn % 2 == 1 || fn == sn) {
        r = nodeHash(p, r);
        if (fn % 2 == 0) {
          while (fn % 2 == 0 && fn != 0) {
            fn /= 2;
            sn /= 2;
          }
        }
      } else {
        r = nodeHash(r, p);
      }
      fn /= 2;
      sn /= 2;
    }
    return sn == 0 && Arrays.equals(r, root);
  }

  // ---- the provenance pipeline ------------------------------------------------------------------------

  private static final class Entry {
    final String role;
    final long leafIndex;
    final int position;
    final Events.DecodedEvent decoded;
    final String proof;

    Entry(String role, long leafIndex, int position, Events.DecodedEvent decoded, String proof) {
      this.role = role;
      this.leafIndex = leafIndex;
      this.position = position;
      this.decoded = decoded;
      this.proof = proof;
    }

    Map<String, Object> event() {
      return decoded.event;
    }

    Map<String, Object> data() {
      return Json.object(decoded.event.get("data"), "data");
    }

    String type() {
      return (String) decoded.event.get("type");
    }
  }

  private static final class KeyLife {
    final String station;
    final String publicKey;
    final long registeredAt;
    Long revokedAt;

    KeyLife(String station, String publicKey, long registeredAt) {
      this.station = station;
      this.publicKey = publicKey;
      this.registeredAt = registeredAt;
    }
  }

  /** The report of a verified document: serial, checkpoint, unit events, stations, firmware and each step done. */
  public static final class Report {
    public final String serial;
    public final Checkpoint checkpoint;
    public final int events;
    public final List<String> stations;
    public final List<String> bootloader;
    public final List<String> application;
    public final List<String[]> steps;

    Report(String serial, Checkpoint checkpoint, int events, List<String> stations, List<String> bootloader, List<String> application, List<String[]> steps) {
      this.serial = serial;
      this.checkpoint = checkpoint;
      this.events = events;
      this.stations = stations;
      this.bootloader = bootloader;
      this.application = application;
      this.steps = steps;
    }

    /** The report as JSON-ready maps, in the shape `flashtrail verify --json` prints. */
    public Map<String, Object> toJson() {
      List<Object> stepList = new ArrayList<>();
      for (String[] s : steps) stepList.add(Json.obj("step", s[0], "detail", s[1]));
      return Json.obj(
          "serial", serial,
          "checkpoint", Json.obj("origin", checkpoint.origin, "size", checkpoint.size, "root", Hex.encode(checkpoint.root)),
          "events", events,
          "stations", stations,
          "firmware", Json.obj("bootloader", bootloader, "application", application),
          "steps", stepList);
    }
  }

  private static VerificationException fail(String code, String step, Entry e, String message) {
    Map<String, Object> location = new LinkedHashMap<>(Json.obj("entry", e.position, "leafIndex", e.leafIndex, "eventId", e.event().get("id"), "eventType", e.type()));
    return new VerificationException(code, step, "entry " + e.position + " (leaf " + e.leafIndex + ", " + e.type() + " " + e.event().get("id") + "): " + message, location);
  }

  private static final Map<String, String> ENVELOPE_PROBLEMS = Map.of("ENVELOPE_INVALID", "ENVELOPE_ERROR", "PAYLOAD_NOT_CANONICAL", "PAYLOAD_NOT_CANONICAL", "SCHEMA_INVALID", "SCHEMA_ERROR");

  private static boolean isHex64(Object value) {
    return value instanceof String && Events.HEX64.matcher((String) value).matches();
  }

  public static Report verify(Object input, NoteKey ledgerKey) throws VerificationException {
    List<String[]> steps = new ArrayList<>();

    // format
    if (!shapeOk(input)) throw new VerificationException("FORMAT_ERROR", "format", "not a " + PROVENANCE_FORMAT + " document", Map.of());
    Map<String, Object> doc = Json.object(input, "document");
    String serial = (String) doc.get("serial");
    String note = (String) doc.get("checkpoint");
    List<Object> rawEntries = Json.array(doc.get("entries"), "entries");
    steps.add(new String[] {"format", PROVENANCE_FORMAT + " for unit " + serial + ", " + rawEntries.size() + " entries"});

    // checkpoint
    String body;
    try {
      body = verifyNote(note, List.of(ledgerKey));
    } catch (IllegalArgumentException e) {
      throw new VerificationException("CHECKPOINT_SIGNATURE_ERROR", "checkpoint", "checkpoint is not signed by the pinned ledger key " + ledgerKey.name + ": " + e.getMessage(), Map.of());
    }
    Checkpoint checkpoint;
    try {
      checkpoint = parseCheckpointBody(body);
    } catch (IllegalArgumentException e) {
      throw new VerificationException("FORMAT_ERROR", "checkpoint", e.getMessage(), Map.of());
    }
    if (!checkpoint.origin.equals(ledgerKey.name)) throw new VerificationException("CHECKPOINT_ORIGIN_ERROR", "checkpoint", "checkpoint origin " + checkpoint.origin + " is not the ledger " + ledgerKey.name, Map.of());
    steps.add(new String[] {"checkpoint", "signed by " + ledgerKey.name + " (" + ledgerKey.id + "): tree size " + checkpoint.size + ", root " + Hex.encode(checkpoint.root).substring(0, 16) + "…"});

    // envelopes
    List<Entry> entries = new ArrayList<>();
    for (int position = 0; position < rawEntries.size(); position++) {
      Map<String, Object> raw = Json.object(rawEntries.get(position), "entry");
      long leafIndex = Json.integer(raw.get("leafIndex"), "leafIndex");
      Map<String, Object> at = Json.obj("entry", position, "leafIndex", leafIndex);
      if (leafIndex < 0) throw new VerificationException("FORMAT_ERROR", "envelopes", "entry " + position + ": leaf index must be a non-negative integer", at);
      Events.DecodedEvent decoded;
      try {
        decoded = Events.decodeUntrustedEnvelope(raw.get("envelope"));
      } catch (Events.EnvelopeDecodeException e) {
        throw new VerificationException(ENVELOPE_PROBLEMS.get(e.code), "envelopes", "entry " + position + " (leaf " + leafIndex + "): " + e.getMessage(), at);
      }
      entries.add(new Entry((String) raw.get("role"), leafIndex, position, decoded, (String) raw.get("proof")));
    }
    steps.add(new String[] {"envelopes", entries.size() + " DSSE envelopes decoded"});

    // trust: AdminKeysTrusted records, signed by the ledger key
    List<Entry> trust = new ArrayList<>();
    for (Entry e : entries) if (e.role.equals("trust")) trust.add(e);
    List<Object[]> adminKeysFrom = new ArrayList<>(); // {Long from, Map<String, byte[]> keys}
    for (Entry e : trust) {
      if (!e.type().equals("AdminKeysTrusted")) throw fail("SUBJECT_MISMATCH", "trust", e, "a trust entry must be AdminKeysTrusted, not " + e.type());
      if (!Dsse.verifyEnvelopeSignature(e.decoded.envelope, ledgerKey.publicKey)) throw fail("SIGNATURE_ERROR", "trust", e, "Ed25519 signature over " + e.type() + " does not verify");
      Map<String, byte[]> keys = new HashMap<>();
      Object list = e.data().get("keys");
      if (!(list instanceof List)) throw fail("SCHEMA_ERROR", "trust", e, "data.keys must list { keyId, publicKey }");
      for (Object k : Json.array(list, "keys")) {
        if (!(k instanceof Map) || !isHex64(Json.object(k, "key").get("keyId")) || !isHex64(Json.object(k, "key").get("publicKey"))) throw fail("SCHEMA_ERROR", "trust", e, "data.keys must list { keyId, publicKey }");
        keys.put((String) Json.object(k, "key").get("keyId"), Hex.decode((String) Json.object(k, "key").get("publicKey")));
      }
      adminKeysFrom.add(new Object[] {e.leafIndex, keys});
    }
    adminKeysFrom.sort((a, b) -> Long.compare((Long) a[0], (Long) b[0]));
    steps.add(new String[] {"trust", trust.size() + " AdminKeysTrusted record(s) signed by the ledger key"});

    // stations: registrations and key lifecycles, signed by administrator keys trusted at that point of the log
    Map<String, KeyLife> lives = new HashMap<>();
    List<Entry> stationEntries = new ArrayList<>();
    for (Entry e : entries) if (e.role.equals("station")) stationEntries.add(e);
    List<Entry> byLeaf = new ArrayList<>(stationEntries);
    byLeaf.sort((a, b) -> Long.compare(a.leafIndex, b.leafIndex));
    for (Entry e : byLeaf) {
      Map<String, byte[]> inForce = Map.of();
      for (int i = adminKeysFrom.size() - 1; i >= 0; i--) {
        if ((Long) adminKeysFrom.get(i)[0] < e.leafIndex) {
          @SuppressWarnings("unchecked")
          Map<String, byte[]> keys = (Map<String, byte[]>) adminKeysFrom.get(i)[1];
          inForce = keys;
          break;
        }
      }
      String keyId = e.decoded.keyId();
      byte[] adminKey = inForce.get(keyId);
      if (adminKey == null) throw fail("KEY_UNKNOWN", "stations", e, e.type() + " is signed by " + keyId.substring(0, 16) + "…, not an administrator key trusted at that point of the log");
      if (!Dsse.verifyEnvelopeSignature(e.decoded.envelope, adminKey)) throw fail("SIGNATURE_ERROR", "stations", e, "Ed25519 signature over " + e.type() + " does not verify");
      Map<String, Object> data = e.data();
      if ((e.type().equals("StationKeyRegistered") || e.type().equals("StationKeyRevoked")) && !(isHex64(data.get("keyId")) && data.get("stationId") instanceof String)) {
        throw fail("SCHEMA_ERROR", "stations", e, "data.keyId must be a lowercase hex SHA-256 and data.stationId a string");
      }
      if (e.type().equals("StationKeyRegistered")) {
        if (!isHex64(data.get("publicKey"))) throw fail("SCHEMA_ERROR", "stations", e, "data.publicKey must be 32 bytes of lowercase hex");
        if (!Ed25519.keyIdOf(Hex.decode((String) data.get("publicKey"))).equals(data.get("keyId"))) throw fail("FORMAT_ERROR", "stations", e, "key id is not the hash of the key");
        lives.put((String) data.get("keyId"), new KeyLife((String) data.get("stationId"), (String) data.get("publicKey"), e.leafIndex));
      } else if (e.type().equals("StationKeyRevoked")) {
        KeyLife life = lives.get(data.get("keyId"));
        if (life != null) life.revokedAt = e.leafIndex;
      } else if (!e.type().equals("StationRegistered")) {
        throw fail("SUBJECT_MISMATCH", "stations", e, "a station entry cannot be " + e.type());
      }
    }
    steps.add(new String[] {"stations", stationEntries.size() + " station events signed by trusted administrator keys; " + lives.size() + " station key(s)"});

    // unit: the unit's own events in stream order, signed by a key live at that point, chained, in log order
    List<Entry> unit = new ArrayList<>();
    for (Entry e : entries) if (e.role.equals("unit")) unit.add(e);
    if (unit.isEmpty()) throw new VerificationException("FORMAT_ERROR", "unit", "the document holds no unit events", Map.of());
    String prev = null;
    long lastLeaf = -1;
    List<String> stations = new ArrayList<>();
    List<String> bootloader = new ArrayList<>();
    List<String> application = new ArrayList<>();
    for (Entry e : unit) {
      Map<String, Object> source = Json.object(e.event().get("source"), "source");
      String stationId = (String) source.get("id");
      if (!"station".equals(source.get("kind")) || !serial.equals(e.data().get("serial"))) throw fail("SUBJECT_MISMATCH", "unit", e, "event is not a station event of unit " + serial);
      String keyId = e.decoded.keyId();
      KeyLife life = lives.get(keyId);
      if (life == null || !life.station.equals(stationId) || life.registeredAt > e.leafIndex) {
        throw fail("KEY_UNKNOWN", "unit", e, "key " + keyId.substring(0, 16) + "… was not registered to station " + stationId + " before this event");
      }
      if (life.revokedAt != null && life.revokedAt < e.leafIndex) {
        throw fail("KEY_REVOKED", "unit", e, "key " + keyId.substring(0, 16) + "… of station " + stationId + " was revoked at leaf " + life.revokedAt + ", before this event");
      }
      if (!Dsse.verifyEnvelopeSignature(e.decoded.envelope, Hex.decode(life.publicKey))) throw fail("SIGNATURE_ERROR", "unit", e, "Ed25519 signature over " + e.type() + " does not verify");
      Object eventPrev = e.event().get("prev");
      if (!(eventPrev == null ? prev == null : eventPrev.equals(prev))) {
        throw fail("CHAIN_BROKEN", "unit", e, "prev is " + abbreviate(eventPrev) + "…, but the preceding event hashes to " + abbreviate(prev) + "…");
      }
      if (e.leafIndex <= lastLeaf) throw fail("LOG_ORDER_ERROR", "unit", e, "leaf " + e.leafIndex + " does not follow leaf " + lastLeaf);
      prev = e.decoded.digest;
      lastLeaf = e.leafIndex;
      addOnce(stations, stationId);
      if (e.type().equals("BootloaderWritten")) addOnce(bootloader, (String) e.data().get("imageSha256"));
      if (e.type().equals("AppVerified") && "pass".equals(e.data().get("result"))) addOnce(application, (String) e.data().get("imageSha256"));
    }
    steps.add(new String[] {"unit", unit.size() + " events of " + serial + ": signatures valid (RFC 8032 strict), keys registered and unrevoked, hash chain unbroken"});

    // inclusion: every envelope above is the leaf it claims to be in the checkpointed tree
    for (Entry e : entries) {
      TlogProof proof;
      try {
        proof = parseTlogProof(e.proof);
      } catch (IllegalArgumentException | ArrayIndexOutOfBoundsException x) {
        throw fail("INCLUSION_PROOF_ERROR", "inclusion", e, "proof is not a c2sp tlog-proof: " + x.getMessage());
      }
      if (proof.index != e.leafIndex) throw fail("INCLUSION_PROOF_ERROR", "inclusion", e, "proof is for leaf " + proof.index + ", entry claims " + e.leafIndex);
      if (!proof.checkpoint.equals(note)) throw fail("INCLUSION_PROOF_ERROR", "inclusion", e, "proof is against another checkpoint than the document");
      if (!verifyInclusion(leafHash(e.decoded.bytes), e.leafIndex, checkpoint.size, proof.hashes, checkpoint.root)) {
        throw fail("INCLUSION_PROOF_ERROR", "inclusion", e, "envelope is not leaf " + e.leafIndex + " of the checkpointed tree of size " + checkpoint.size);
      }
    }
    steps.add(new String[] {"inclusion", entries.size() + " inclusion proofs verify against the checkpoint (RFC 9162 §2.1.3.2)"});
    return new Report(serial, checkpoint, unit.size(), stations, bootloader, application, steps);
  }

  /** The key that signed an event, as the caller vouches for it (perhaps asking the ledger); null when it knows none. */
  @FunctionalInterface
  public interface KeyLookup {
    byte[] publicKeyOf(String keyId, Map<String, Object> event) throws LedgerClient.LedgerException, LedgerClient.LedgerUnreachableException;
  }

  /**
   * One stream's envelopes in stream order, as the ledger returns them (GET /v1/units/:serial/events),
   * re-verified: each decodes strictly, is signed (strict RFC 8032) by the key {@code keys} names, and
   * carries its predecessor's digest as {@code prev} (the first, null). Weaker than {@link #verify}, which
   * needs no key from anyone but the pinned ledger key: here the caller vouches for the keys.
   */
  public static List<Events.DecodedEvent> verifyChain(List<Object> envelopes, KeyLookup keys)
      throws VerificationException, LedgerClient.LedgerException, LedgerClient.LedgerUnreachableException {
    List<Events.DecodedEvent> decoded = new ArrayList<>();
    String prev = null;
    for (int i = 0; i < envelopes.size(); i++) {
      Events.DecodedEvent d;
      try {
        d = Events.decodeUntrustedEnvelope(envelopes.get(i));
      } catch (Events.EnvelopeDecodeException e) {
        throw new VerificationException(ENVELOPE_PROBLEMS.get(e.code), "chain", "event " + i + ": " + e.getMessage(), Json.obj("entry", i));
      }
      Map<String, Object> at = Json.obj("entry", i, "eventId", d.event.get("id"), "eventType", d.event.get("type"));
      String where = "event " + i + " (" + d.event.get("type") + " " + d.event.get("id") + ")";
      String keyId = d.keyId();
      byte[] publicKey = keys.publicKeyOf(keyId, d.event);
      if (publicKey == null) {
        throw new VerificationException("KEY_UNKNOWN", "chain", where + ": signed by " + keyId.substring(0, 16) + "…, a key not known for station " + Json.object(d.event.get("source"), "source").get("id"), at);
      }
      if (!Dsse.verifyEnvelopeSignature(d.envelope, publicKey)) throw new VerificationException("SIGNATURE_ERROR", "chain", where + ": Ed25519 signature over " + d.event.get("type") + " does not verify", at);
      Object eventPrev = d.event.get("prev");
      if (!(eventPrev == null ? prev == null : eventPrev.equals(prev))) {
        throw new VerificationException("CHAIN_BROKEN", "chain", where + ": prev is " + abbreviate(eventPrev) + "…, but the preceding event hashes to " + abbreviate(prev) + "…", at);
      }
      prev = d.digest;
      decoded.add(d);
    }
    return decoded;
  }

  private static boolean shapeOk(Object input) {
    if (!(input instanceof Map)) return false;
    Map<String, Object> doc = Json.object(input, "document");
    if (!PROVENANCE_FORMAT.equals(doc.get("format")) || !(doc.get("serial") instanceof String) || !(doc.get("checkpoint") instanceof String) || !(doc.get("entries") instanceof List)) return false;
    for (Object e : Json.array(doc.get("entries"), "entries")) {
      if (!(e instanceof Map)) return false;
      Map<String, Object> entry = Json.object(e, "entry");
      if (!List.of("trust", "station", "unit").contains(entry.get("role")) || !Json.isSafeInteger(entry.get("leafIndex")) || !(entry.get("proof") instanceof String) || !(entry.get("envelope") instanceof Map)) return false;
    }
    return true;
  }

  private static String abbreviate(Object digest) {
    String s = String.valueOf(digest);
    return s.length() > 16 ? s.substring(0, 16) : s;
  }

  private static void addOnce(List<String> list, String item) {
    if (!list.contains(item)) list.add(item);
  }
}
