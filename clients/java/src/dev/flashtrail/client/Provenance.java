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
 * Offline verification of a unit's provenance document ({@code flashtrail.provenance.v2}, and v1 as older
 * ledgers served it), trusting nothing but the ledger's pinned verifier key. The same ordered steps and stable
 * error codes as the ledger's own verifier (src/verify/provenance.ts, docs/format.md §8.1), so both give the
 * same verdict on the same document:
 *
 * <pre>format → checkpoint → envelopes → inclusion → keys → unit</pre>
 *
 * Leaf indices are trusted only once the inclusion proofs verify; every later judgement rests on them.
 *
 * The ledger key signs the checkpoint (a C2SP signed note) and the AdminKeysTrusted records; the
 * administrator keys they name sign the station key registrations; those keys sign the unit's events,
 * which must chain by {@code prev}; every envelope must be its leaf of the checkpointed RFC 6962 tree
 * (C2SP tlog-proof). A key counts for an event when its registration precedes the event in the log and no
 * revocation does.
 */
public final class Provenance {
  private Provenance() {}

  public static final String PROVENANCE_FORMAT_V1 = "flashtrail.provenance.v1";
  public static final String PROVENANCE_FORMAT_V2 = "flashtrail.provenance.v2";
  /**
   * v2 with {@code statement}, the ledger's signature over the rest of the document (docs/format.md §6.7: its Ed25519
   * signature is checked here, ML-DSA-44 reported as not checked), and optionally {@code history} (§15), reported
   * as not checked (that needs the index log's key).
   */
  public static final String PROVENANCE_FORMAT_V3 = "flashtrail.provenance.v3";
  public static final String PROVENANCE_FORMAT = PROVENANCE_FORMAT_V2;

  /** The event types each role may carry (docs/format.md §6.2). */
  private static final Map<String, List<String>> ROLE_TYPES = Map.of(
      "trust", List.of("AdminKeysTrusted"),
      "station", List.of("StationRegistered", "StationKeyRegistered", "StationKeyRevoked"),
      "release", List.of("ReleaseApproved"),
      "batch", List.of("BatchOpened"),
      "unit", Events.UNIT_EVENT_TYPES);
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

  /** A v2 proof carries an extra line, which the format does not use. */
  static final class ExtraLineException extends IllegalArgumentException {
    private static final long serialVersionUID = 1L;
  }

  static TlogProof parseTlogProof(String text, boolean allowExtra) {
    String[] lines = text.split("\n", -1);
    int i = 0;
    if (!lines[i++].equals(TLOG_PROOF_HEADER)) throw new IllegalArgumentException("a tlog proof starts with " + TLOG_PROOF_HEADER);
    if (i < lines.length && lines[i].startsWith("extra ")) {
      if (!allowExtra) throw new ExtraLineException();
      Hex.base64Canonical(lines[i++].substring(6));
    }
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
    public final String format;
    public final String serial;
    public final Checkpoint checkpoint;
    public final int events;
    public final List<String> stations;
    public final String batchId;
    public final String releaseId;
    public final List<String> bootloader;
    public final List<String> application;
    public final List<String[]> steps;

    Report(String format, String serial, Checkpoint checkpoint, int events, List<String> stations, String batchId, String releaseId, List<String> bootloader, List<String> application, List<String[]> steps) {
      this.format = format;
      this.serial = serial;
      this.checkpoint = checkpoint;
      this.events = events;
      this.stations = stations;
      this.batchId = batchId;
      this.releaseId = releaseId;
      this.bootloader = bootloader;
      this.application = application;
      this.steps = steps;
    }

    /** The report as JSON-ready maps, in the shape `flashtrail verify --json` prints. */
    public Map<String, Object> toJson() {
      List<Object> stepList = new ArrayList<>();
      for (String[] s : steps) stepList.add(Json.obj("step", s[0], "detail", s[1]));
      Map<String, Object> out = new LinkedHashMap<>(Json.obj(
          "format", format,
          "serial", serial,
          "checkpoint", Json.obj("origin", checkpoint.origin, "size", checkpoint.size, "root", Hex.encode(checkpoint.root)),
          "events", events,
          "stations", stations));
      out.put("batchId", batchId);
      out.put("releaseId", releaseId);
      out.put("firmware", Json.obj("bootloader", bootloader, "application", application));
      out.put("steps", stepList);
      return out;
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

  private static String kind(String imageName) {
    return imageName.equals("app") ? "application" : imageName;
  }

  /** {kind, sha256} of the firmware a unit event says the unit carries (docs/format.md §7.6). */
  private static List<String[]> firmwareOf(Entry e) {
    Map<String, Object> data = e.data();
    List<String[]> out = new ArrayList<>();
    switch (e.type()) {
      case "BootloaderWritten" -> out.add(new String[] {"bootloader", (String) data.get("imageSha256")});
      case "AppVerified" -> {
        if ("pass".equals(data.get("result"))) out.add(new String[] {"application", (String) data.get("imageSha256")});
      }
      case "ImagesVerified" -> {
        if ("pass".equals(data.get("result")) && !"boot_log_elf_sha256".equals(data.get("method"))) {
          for (Object i : Json.array(data.get("images"), "images")) out.add(new String[] {kind((String) Json.object(i, "image").get("name")), (String) Json.object(i, "image").get("expected")});
        }
      }
      case "UnitLocked" -> {
        for (Object i : Json.array(data.get("images"), "images")) out.add(new String[] {kind((String) Json.object(i, "image").get("name")), (String) Json.object(i, "image").get("sha256")});
      }
      default -> {}
    }
    return out;
  }

  public static Report verify(Object input, NoteKey ledgerKey) throws VerificationException {
    List<String[]> steps = new ArrayList<>();

    // format
    String format = shapeOk(input);
    if (format == null) throw new VerificationException("FORMAT_ERROR", "format", "not a " + PROVENANCE_FORMAT_V2 + " (or " + PROVENANCE_FORMAT_V1 + ") document", Map.of());
    boolean v3 = format.equals(PROVENANCE_FORMAT_V3);
    boolean v2 = v3 || format.equals(PROVENANCE_FORMAT_V2);
    Map<String, Object> doc = Json.object(input, "document");
    String serial = (String) doc.get("serial");
    String note = (String) doc.get("checkpoint");
    List<Object> rawEntries = Json.array(doc.get("entries"), "entries");
    steps.add(new String[] {"format", format + " for unit " + serial + ", " + rawEntries.size() + " entries"});

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

    // envelopes: each decodes strictly and is of a type its role allows; each leaf once; v2 in log order
    List<Entry> entries = new ArrayList<>();
    for (int position = 0; position < rawEntries.size(); position++) {
      Map<String, Object> raw = Json.object(rawEntries.get(position), "entry");
      long leafIndex = Json.integer(raw.get("leafIndex"), "leafIndex");
      Map<String, Object> at = Json.obj("entry", position, "leafIndex", leafIndex);
      Events.DecodedEvent decoded;
      try {
        decoded = Events.decodeUntrustedEnvelope(raw.get("envelope"));
      } catch (Events.EnvelopeDecodeException e) {
        throw new VerificationException(ENVELOPE_PROBLEMS.get(e.code), "envelopes", "entry " + position + " (leaf " + leafIndex + "): " + e.getMessage(), at);
      }
      Entry e = new Entry((String) raw.get("role"), leafIndex, position, decoded, (String) raw.get("proof"));
      if (!ROLE_TYPES.get(e.role).contains(e.type())) throw fail("SUBJECT_MISMATCH", "envelopes", e, "a " + e.role + " entry cannot hold " + e.type());
      entries.add(e);
    }
    Map<Long, Entry> seen = new HashMap<>();
    for (int i = 0; i < entries.size(); i++) {
      Entry e = entries.get(i);
      if (seen.containsKey(e.leafIndex)) throw fail("DUPLICATE_ENTRY", "envelopes", e, "leaf " + e.leafIndex + " is already entry " + seen.get(e.leafIndex).position);
      if (v2 && i > 0 && entries.get(i - 1).leafIndex > e.leafIndex) throw fail("FORMAT_ERROR", "envelopes", e, "entries must be in log order, and leaf " + e.leafIndex + " follows leaf " + entries.get(i - 1).leafIndex);
      seen.put(e.leafIndex, e);
    }
    steps.add(new String[] {"envelopes", entries.size() + " DSSE envelopes decoded, each of its role" + (v2 ? ", in log order" : "")});

    // inclusion: every envelope is the leaf it claims to be in the checkpointed tree
    List<TlogProof> proofs = new ArrayList<>();
    for (Entry e : entries) {
      TlogProof proof;
      try {
        proof = parseTlogProof(e.proof, !v2);
      } catch (ExtraLineException x) {
        throw fail("FORMAT_ERROR", "inclusion", e, "the proof carries an extra line, which this format does not use");
      } catch (IllegalArgumentException | ArrayIndexOutOfBoundsException x) {
        throw fail("FORMAT_ERROR", "inclusion", e, "proof is not a c2sp.org/tlog-proof@v1: " + x.getMessage());
      }
      if (proof.index != e.leafIndex) throw fail("INCLUSION_PROOF_ERROR", "inclusion", e, "proof is for leaf " + proof.index + ", entry claims " + e.leafIndex);
      if (!proof.checkpoint.equals(note)) throw fail("INCLUSION_PROOF_ERROR", "inclusion", e, "proof is against another checkpoint than the document");
      proofs.add(proof);
    }
    for (int i = 0; i < entries.size(); i++) {
      Entry e = entries.get(i);
      if (verifyInclusion(leafHash(e.decoded.bytes), e.leafIndex, checkpoint.size, proofs.get(i).hashes, checkpoint.root)) continue;
      // Tell an envelope changed after signing from a misplaced one: its signature, by the key the document names.
      byte[] key = anyKeyFor(e, entries, ledgerKey);
      if (key == null) throw fail("KEY_UNKNOWN", "inclusion", e, "the envelope is not leaf " + e.leafIndex + " of the checkpointed tree, and it is signed by " + e.decoded.keyId().substring(0, 16) + "…, a key this document does not name: someone else made it");
      if (!Dsse.verifyEnvelopeSignature(e.decoded.envelope, key)) throw fail("SIGNATURE_ERROR", "inclusion", e, "the envelope is not leaf " + e.leafIndex + " of the checkpointed tree, and its Ed25519 signature over " + e.type() + " does not verify: it was changed after it was signed");
      throw fail("INCLUSION_PROOF_ERROR", "inclusion", e, "envelope is not leaf " + e.leafIndex + " of the checkpointed tree of size " + checkpoint.size);
    }
    steps.add(new String[] {"inclusion", entries.size() + " inclusion proofs verify against the checkpoint (RFC 9162 §2.1.3.2)"});

    // keys: the records every unit depends on, in log order, each stream a prefix from its first record
    List<Entry> admin = new ArrayList<>();
    for (Entry e : entries) if (!e.role.equals("unit")) admin.add(e);
    admin.sort((a, b) -> Long.compare(a.leafIndex, b.leafIndex));
    String ledgerKeyId = Ed25519.keyIdOf(ledgerKey.publicKey);
    Map<String, String> heads = new HashMap<>();
    Map<String, byte[]> adminKeys = null;
    Map<String, List<KeyLife>> lives = new HashMap<>();
    Map<String, String> batches = new LinkedHashMap<>();
    Map<String, Map<String, String>> releases = new LinkedHashMap<>();
    int trustCount = 0;
    for (Entry e : admin) {
      String stream = Events.streamOf(e.event());
      String head = heads.get(stream);
      Object eventPrev = e.event().get("prev");
      if (!(eventPrev == null ? head == null : eventPrev.equals(head))) {
        throw fail("CHAIN_BROKEN", "keys", e, head == null ? "the first record of " + stream + " in this file has prev " + abbreviate(eventPrev) + "…, not null: records of that stream are missing" : "prev is " + abbreviate(eventPrev) + "…, but the record before it in " + stream + " hashes to " + abbreviate(head) + "…");
      }
      heads.put(stream, e.decoded.digest);
      Map<String, Object> data = e.data();
      String keyId = e.decoded.keyId();
      if (e.role.equals("trust")) {
        if (!keyId.equals(ledgerKeyId)) throw fail("KEY_UNKNOWN", "keys", e, "AdminKeysTrusted must be signed by the ledger key " + ledgerKeyId.substring(0, 16) + "…, not " + keyId.substring(0, 16) + "…");
        if (!Dsse.verifyEnvelopeSignature(e.decoded.envelope, ledgerKey.publicKey)) throw fail("SIGNATURE_ERROR", "keys", e, "Ed25519 signature over " + e.type() + " does not verify");
        Map<String, byte[]> keys = new HashMap<>();
        Object list = data.get("keys");
        if (!(list instanceof List)) throw fail("SCHEMA_ERROR", "keys", e, "data.keys must list { keyId, publicKey }");
        for (Object k : Json.array(list, "keys")) {
          if (!(k instanceof Map) || !isHex64(Json.object(k, "key").get("keyId")) || !isHex64(Json.object(k, "key").get("publicKey"))) throw fail("SCHEMA_ERROR", "keys", e, "data.keys must list { keyId, publicKey }");
          keys.put((String) Json.object(k, "key").get("keyId"), Hex.decode((String) Json.object(k, "key").get("publicKey")));
        }
        adminKeys = keys;
        trustCount++;
        continue;
      }
      byte[] adminKey = adminKeys == null ? null : adminKeys.get(keyId);
      if (adminKey == null) throw fail("KEY_UNKNOWN", "keys", e, e.type() + " is signed by " + keyId.substring(0, 16) + "…, not an administrator key trusted at that point of the log");
      if (!Dsse.verifyEnvelopeSignature(e.decoded.envelope, adminKey)) throw fail("SIGNATURE_ERROR", "keys", e, "Ed25519 signature over " + e.type() + " does not verify");
      switch (e.type()) {
        case "StationKeyRegistered" -> {
          if (!Ed25519.keyIdOf(Hex.decode((String) data.get("publicKey"))).equals(data.get("keyId"))) throw fail("FORMAT_ERROR", "keys", e, "key id is not the hash of the key");
          lives.computeIfAbsent((String) data.get("keyId"), x -> new ArrayList<>()).add(new KeyLife((String) data.get("stationId"), (String) data.get("publicKey"), e.leafIndex));
        }
        case "StationKeyRevoked" -> {
          for (KeyLife l : lives.getOrDefault((String) data.get("keyId"), List.of())) {
            if (l.station.equals(data.get("stationId")) && l.revokedAt == null) {
              l.revokedAt = e.leafIndex;
              break;
            }
          }
        }
        case "BatchOpened" -> batches.put((String) data.get("batchId"), (String) data.get("releaseId"));
        case "ReleaseApproved" -> {
          Map<String, String> images = new HashMap<>();
          if (data.containsKey("images")) {
            for (Object i : Json.array(data.get("images"), "images")) images.put(kind((String) Json.object(i, "image").get("name")), (String) Json.object(i, "image").get("sha256"));
          } else {
            images.put("bootloader", (String) data.get("bootloaderSha256"));
            images.put("application", (String) data.get("applicationSha256"));
          }
          releases.put((String) data.get("releaseId"), images);
        }
        default -> {}
      }
    }
    for (Map.Entry<String, String> b : batches.entrySet()) {
      if (!releases.containsKey(b.getValue())) {
        Entry opened = null;
        for (Entry e : admin) if (e.type().equals("BatchOpened") && b.getKey().equals(e.data().get("batchId"))) opened = e;
        throw fail("SUMMARY_MISMATCH", "keys", opened, "batch " + b.getKey() + " is opened against release " + b.getValue() + ", whose ReleaseApproved record is not in the file");
      }
    }
    steps.add(new String[] {"keys", trustCount + " AdminKeysTrusted record(s) signed by the ledger key; " + (admin.size() - trustCount) + " administrator record(s) signed by trusted administrator keys, chained"});

    // unit: the unit's own events in stream order, signed by a key live at their leaf, chained from the first, in log order
    List<Entry> unit = new ArrayList<>();
    for (Entry e : entries) if (e.role.equals("unit")) unit.add(e);
    if (unit.isEmpty()) throw new VerificationException("FORMAT_ERROR", "unit", "the document holds no unit events", Map.of());
    String prev = null;
    Entry previous = null;
    List<String> stations = new ArrayList<>();
    List<String> bootloader = new ArrayList<>();
    List<String> application = new ArrayList<>();
    String batchId = null;
    for (Entry e : unit) {
      Map<String, Object> source = Json.object(e.event().get("source"), "source");
      String stationId = (String) source.get("id");
      if (!"station".equals(source.get("kind")) || !serial.equals(e.data().get("serial"))) throw fail("SUBJECT_MISMATCH", "unit", e, "event is not a station event of unit " + serial);
      String keyId = e.decoded.keyId();
      KeyLife live = null;
      KeyLife revoked = null;
      for (KeyLife l : lives.getOrDefault(keyId, List.of())) {
        if (!l.station.equals(stationId) || l.registeredAt >= e.leafIndex) continue;
        if (l.revokedAt == null || l.revokedAt > e.leafIndex) {
          if (live == null) live = l;
        } else if (revoked == null) {
          revoked = l;
        }
      }
      if (live == null) {
        if (revoked != null) throw fail("KEY_REVOKED", "unit", e, "key " + keyId.substring(0, 16) + "… of station " + stationId + " was revoked at leaf " + revoked.revokedAt + ", before this event");
        throw fail("KEY_UNKNOWN", "unit", e, "key " + keyId.substring(0, 16) + "… was not registered to station " + stationId + " before this event");
      }
      if (!Dsse.verifyEnvelopeSignature(e.decoded.envelope, Hex.decode(live.publicKey))) throw fail("SIGNATURE_ERROR", "unit", e, "Ed25519 signature over " + e.type() + " does not verify");
      Object eventPrev = e.event().get("prev");
      if (!(eventPrev == null ? prev == null : eventPrev.equals(prev))) {
        throw fail("CHAIN_BROKEN", "unit", e, prev == null ? "the unit's first event must have prev null, not " + abbreviate(eventPrev) + "…: earlier events are missing" : "prev is " + abbreviate(eventPrev) + "…, but the preceding event hashes to " + abbreviate(prev) + "…");
      }
      if (previous != null && e.leafIndex <= previous.leafIndex) throw fail("LOG_ORDER_ERROR", "unit", e, "this event follows leaf " + previous.leafIndex + " in its stream, but precedes it in the log (leaf " + e.leafIndex + ")");
      prev = e.decoded.digest;
      previous = e;
      addOnce(stations, stationId);
      if (e.type().equals("UnitScanned")) batchId = (String) e.data().get("batchId");
      for (String[] f : firmwareOf(e)) {
        if (f[0].equals("bootloader")) addOnce(bootloader, f[1]);
        if (f[0].equals("application")) addOnce(application, f[1]);
      }
    }
    String releaseId = null;
    if (v2) {
      for (Entry e : admin) {
        if (e.role.equals("station") && !stations.contains((String) e.data().get("stationId"))) throw fail("FORMAT_ERROR", "unit", e, "a station record of a station that signed none of the unit's events");
      }
      if (batchId != null) {
        releaseId = batches.get(batchId);
        if (releaseId == null) throw new VerificationException("FORMAT_ERROR", "unit", "the unit was scanned into batch " + batchId + ", whose BatchOpened record is not in the document", Json.obj("field", "entries"));
      }
      for (String b : batches.keySet()) if (!b.equals(batchId)) throw new VerificationException("FORMAT_ERROR", "unit", "the document holds the batch record of " + b + ", not the unit's batch", Json.obj("stream", "batch-" + b));
      for (String r : releases.keySet()) if (!r.equals(releaseId)) throw new VerificationException("FORMAT_ERROR", "unit", "the document holds the release record of " + r + ", not the release of the unit's batch", Json.obj("stream", "release-" + r));
    }
    steps.add(new String[] {"unit", unit.size() + " events of " + serial + ": signatures valid (RFC 8032 strict), keys registered and unrevoked, hash chain unbroken from the first event, in log order"});
    if (v3) {
      steps.add(new String[] {"history", "not checked: this verifier does not check the unit history map's completeness proof (flashtrail verify --map-key does)"});
      steps.add(new String[] {"statement", checkStatement(doc, ledgerKey, checkpoint, unit.size())});
    }
    List<String> sorted = new ArrayList<>(stations);
    sorted.sort(null);
    return new Report(format, serial, checkpoint, unit.size(), sorted, batchId, releaseId, bootloader, application, steps);
  }

  /**
   * §6.7: the ledger's in-toto Statement over SHA-256(JCS(the document without {@code statement})), its first
   * signature the pinned ledger key's Ed25519 over DSSE PAE.
   */
  private static String checkStatement(Map<String, Object> doc, NoteKey ledgerKey, Checkpoint checkpoint, int unitEvents) throws VerificationException {
    Map<String, Object> where = Json.obj("field", "statement");
    Map<String, Object> envelope = Json.object(doc.get("statement"), "statement");
    if (!envelope.keySet().equals(java.util.Set.of("payloadType", "payload", "signatures")) || !(envelope.get("signatures") instanceof List)) throw new VerificationException("FORMAT_ERROR", "statement", "the statement is not a DSSE envelope", where);
    List<Object> signatures = Json.array(envelope.get("signatures"), "signatures");
    if (signatures.isEmpty() || signatures.size() > 2 || !(signatures.get(0) instanceof Map)) throw new VerificationException("FORMAT_ERROR", "statement", "the statement has not one or two signatures", where);
    Map<String, Object> first = Json.object(signatures.get(0), "signature");
    if (!"application/vnd.in-toto+json".equals(envelope.get("payloadType")) || !Ed25519.keyIdOf(ledgerKey.publicKey).equals(first.get("keyid"))) throw new VerificationException("STATEMENT_SIGNATURE_ERROR", "statement", "the statement's first signature is not by the pinned ledger key", Json.obj("field", "envelope.signatures[0].keyid"));
    Map<String, Object> single = new java.util.LinkedHashMap<>(envelope);
    single.put("signatures", List.of(first));
    if (!Dsse.verifyEnvelopeSignature(single, ledgerKey.publicKey)) throw new VerificationException("STATEMENT_SIGNATURE_ERROR", "statement", "the statement's Ed25519 signature does not verify under the pinned ledger key", Json.obj("field", "envelope.signatures[0].sig"));
    Map<String, Object> statement;
    try {
      Object parsed = Json.parse(new String(Hex.base64Canonical(Json.string(envelope.get("payload"), "payload")), java.nio.charset.StandardCharsets.UTF_8));
      if (!(parsed instanceof Map)) throw new Json.ParseException("not an object");
      statement = Json.object(parsed, "statement");
    } catch (Json.ParseException | IllegalArgumentException e) {
      throw new VerificationException("FORMAT_ERROR", "statement", "the statement payload is not a JSON object", where);
    }
    if (!"https://in-toto.io/Statement/v1".equals(statement.get("_type")) || !"https://flashtrail.dev/attestation/provenance/v3".equals(statement.get("predicateType")) || !(statement.get("subject") instanceof List) || !(statement.get("predicate") instanceof Map)) throw new VerificationException("FORMAT_ERROR", "statement", "the statement is not the ledger's provenance statement", where);
    List<Object> subject = Json.array(statement.get("subject"), "subject");
    Map<String, Object> predicate = Json.object(statement.get("predicate"), "predicate");
    Object serial = doc.get("serial");
    if (subject.size() != 1 || !(subject.get(0) instanceof Map) || !serial.equals(Json.object(subject.get(0), "subject").get("name")) || !serial.equals(predicate.get("serial"))) throw new VerificationException("SUBJECT_MISMATCH", "statement", "the statement is about another unit", Json.obj("field", "statement.subject"));
    Map<String, Object> rest = new java.util.LinkedHashMap<>(doc);
    rest.remove("statement");
    String digest = Hex.encode(Ed25519.sha(Jcs.canonicalBytes(rest), "SHA-256"));
    Object signedDigest = Json.object(subject.get(0), "subject").get("digest") instanceof Map ? Json.object(Json.object(subject.get(0), "subject").get("digest"), "digest").get("sha256") : null;
    boolean counts = Json.isSafeInteger(predicate.get("entries")) && Json.integer(predicate.get("entries"), "entries") == Json.array(doc.get("entries"), "entries").size() && Json.isSafeInteger(predicate.get("unitEvents")) && Json.integer(predicate.get("unitEvents"), "unitEvents") == unitEvents;
    if (!digest.equals(signedDigest) || !counts) throw new VerificationException("CONTENT_DIGEST_ERROR", "statement", "the document is not the one the ledger signed (entries removed, added or changed)", Json.obj("field", "statement.subject[0].digest.sha256"));
    Object cp = predicate.get("checkpoint");
    boolean sameCheckpoint = checkpoint.origin.equals(predicate.get("origin")) && cp instanceof Map && Json.isSafeInteger(Json.object(cp, "checkpoint").get("size")) && Json.integer(Json.object(cp, "checkpoint").get("size"), "size") == checkpoint.size && Hex.encode(checkpoint.root).equals(Json.object(cp, "checkpoint").get("rootHash"));
    if (!sameCheckpoint) throw new VerificationException("PREDICATE_MISMATCH", "statement", "the statement names another checkpoint", Json.obj("field", "statement.predicate.checkpoint"));
    return "the ledger signed this document (sha256 " + digest.substring(0, 16) + "…) with Ed25519" + (signatures.size() == 2 ? "; its ML-DSA-44 signature not checked (this client has no ML-DSA-44)" : "") + ": nothing was removed from it or added to it since";
  }

  /** The public key an entry's key id names anywhere in the document, ignoring key lives: for diagnosis only. */
  private static byte[] anyKeyFor(Entry e, List<Entry> entries, NoteKey ledgerKey) {
    String keyId = e.decoded.keyId();
    if (e.role.equals("trust")) return keyId.equals(Ed25519.keyIdOf(ledgerKey.publicKey)) ? ledgerKey.publicKey : null;
    if (e.role.equals("unit")) {
      Object station = Json.object(e.event().get("source"), "source").get("id");
      for (Entry r : entries) {
        if (r.type().equals("StationKeyRegistered") && keyId.equals(r.data().get("keyId")) && station.equals(r.data().get("stationId"))) return Hex.decode((String) r.data().get("publicKey"));
      }
      return null;
    }
    for (Entry r : entries) {
      if (!r.type().equals("AdminKeysTrusted") || !(r.data().get("keys") instanceof List)) continue;
      for (Object k : Json.array(r.data().get("keys"), "keys")) {
        if (k instanceof Map && keyId.equals(Json.object(k, "key").get("keyId")) && isHex64(Json.object(k, "key").get("publicKey"))) return Hex.decode((String) Json.object(k, "key").get("publicKey"));
      }
    }
    return null;
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

  /** The document's format when its shape is that of a provenance document (docs/format.md §6.1), else null. */
  private static String shapeOk(Object input) {
    if (!(input instanceof Map)) return null;
    Map<String, Object> doc = Json.object(input, "document");
    Object format = doc.get("format");
    boolean v3 = PROVENANCE_FORMAT_V3.equals(format);
    if (!v3 && !PROVENANCE_FORMAT_V2.equals(format) && !PROVENANCE_FORMAT_V1.equals(format)) return null;
    List<String> roles = PROVENANCE_FORMAT_V1.equals(format) ? List.of("trust", "station", "unit") : List.of("trust", "station", "release", "batch", "unit");
    java.util.Set<String> members = new java.util.HashSet<>(doc.keySet());
    if (v3) members.remove("history");
    if (!members.equals(v3 ? java.util.Set.of("format", "serial", "checkpoint", "entries", "statement") : java.util.Set.of("format", "serial", "checkpoint", "entries"))) return null;
    if (v3 && ((doc.containsKey("history") && !(doc.get("history") instanceof Map)) || !(doc.get("statement") instanceof Map))) return null;
    if (!(doc.get("serial") instanceof String) || !(doc.get("checkpoint") instanceof String) || !(doc.get("entries") instanceof List)) return null;
    List<Object> list = Json.array(doc.get("entries"), "entries");
    if (list.isEmpty() || list.size() > 1_000_000) return null;
    for (Object e : list) {
      if (!(e instanceof Map)) return null;
      Map<String, Object> entry = Json.object(e, "entry");
      if (!entry.keySet().equals(java.util.Set.of("role", "leafIndex", "envelope", "proof"))) return null;
      if (!roles.contains(entry.get("role")) || !Json.isSafeInteger(entry.get("leafIndex")) || Json.integer(entry.get("leafIndex"), "leafIndex") < 0 || !(entry.get("proof") instanceof String) || !(entry.get("envelope") instanceof Map)) return null;
    }
    return (String) format;
  }

  private static String abbreviate(Object digest) {
    String s = String.valueOf(digest);
    return s.length() > 16 ? s.substring(0, 16) : s;
  }

  private static void addOnce(List<String> list, String item) {
    if (!list.contains(item)) list.add(item);
  }
}
