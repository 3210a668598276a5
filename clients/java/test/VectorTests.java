import dev.flashtrail.client.Dsse;
import dev.flashtrail.client.Ed25519;
import dev.flashtrail.client.Events;
import dev.flashtrail.client.Hex;
import dev.flashtrail.client.Jcs;
import dev.flashtrail.client.Json;
import dev.flashtrail.client.KeyFile;
import dev.flashtrail.client.Provenance;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Instant;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

/**
 * The Java client against the repository's vectors (test/vectors): RFC 8785, DSSE PAE, RFC 8032, the
 * strict-verification edge cases and flashtrail's golden signed events, byte for byte. The JDK has no test
 * framework, so this is a plain program: it prints each failure and "ok N checks", and exits 1 on any failure.
 *
 * <pre>java -cp build/classes VectorTests [VECTORS_DIR]   (default ../../test/vectors)</pre>
 */
public final class VectorTests {
  private static int checks;
  private static int failures;

  private static void check(boolean ok, String what) {
    checks++;
    if (!ok) {
      failures++;
      System.out.println("FAIL " + what);
    }
  }

  private static <T> void equal(T actual, T expected, String what) {
    check(expected == null ? actual == null : expected.equals(actual), what + ": expected " + expected + ", got " + actual);
  }

  interface Action {
    void run() throws Exception;
  }

  private static void throwsException(Action action, Class<? extends Exception> type, String what) {
    try {
      action.run();
      check(false, what + ": expected " + type.getSimpleName());
    } catch (Exception e) {
      check(type.isInstance(e), what + ": expected " + type.getSimpleName() + ", got " + e);
    }
  }

  private static Map<String, Object> vectors(Path dir, String name) throws Exception {
    return Json.object(Json.parse(Files.readString(dir.resolve(name), StandardCharsets.UTF_8)), name);
  }

  public static void main(String[] args) throws Exception {
    Path dir = Path.of(args.length > 0 ? args[0] : "../../test/vectors");

    // RFC 8785
    Map<String, Object> jcs = vectors(dir, "rfc8785-jcs.json");
    for (Object o : Json.array(jcs.get("objects"), "objects")) {
      Map<String, Object> v = Json.object(o, "vector");
      equal(Jcs.canonicalize(Json.parse((String) v.get("input"))), (String) v.get("canonical"), "RFC 8785 " + v.get("name"));
    }
    for (Object o : Json.array(jcs.get("numbers"), "numbers")) {
      Map<String, Object> v = Json.object(o, "vector");
      double x = Double.longBitsToDouble(Long.parseUnsignedLong((String) v.get("ieee754"), 16));
      if (v.get("canonical") == null) throwsException(() -> Jcs.canonicalize(x), Jcs.CanonicalizationException.class, "RFC 8785 number " + v.get("ieee754"));
      else equal(Jcs.canonicalize(x), (String) v.get("canonical"), "RFC 8785 number " + v.get("ieee754"));
    }
    equal(Jcs.canonicalize(List.of(28672, -0.0, 9007199254740992L, 1L << 60)), "[28672,0,9007199254740992,1152921504606847000]", "integers are doubles");
    try {
      Jcs.canonicalize(Map.of("n", (1L << 53) + 1));
      check(false, "an integer no double holds is refused");
    } catch (Jcs.CanonicalizationException e) {
      equal(e.path, "$.n", "the refusal names the path");
    }
    try {
      Jcs.canonicalize(Map.of("a", List.of(1, "\ud800")));
      check(false, "a lone surrogate is refused");
    } catch (Jcs.CanonicalizationException e) {
      equal(e.path, "$.a[1]", "the refusal names the path");
    }
    equal(Jcs.canonicalize("\u0000\u001f\u007f\u2028/\"\\\b\t\n\f\r"), "\"\\u0000\\u001f\u007f\u2028/\\\"\\\\\\b\\t\\n\\f\\r\"", "JSON.stringify escapes");

    // DSSE PAE
    for (Object o : Json.array(vectors(dir, "dsse-pae.json").get("vectors"), "vectors")) {
      Map<String, Object> v = Json.object(o, "vector");
      equal(new String(Dsse.pae((String) v.get("payloadType"), ((String) v.get("body")).getBytes(StandardCharsets.UTF_8)), StandardCharsets.UTF_8), (String) v.get("pae"), "DSSE PAE");
    }

    // RFC 8032 and strict verification
    for (Object o : Json.array(vectors(dir, "rfc8032-ed25519.json").get("vectors"), "vectors")) {
      Map<String, Object> v = Json.object(o, "vector");
      Ed25519.SigningKey key = Ed25519.SigningKey.fromSeed(Hex.decode((String) v.get("secretKey")));
      byte[] message = Hex.decode((String) v.get("message"));
      byte[] signature = Hex.decode((String) v.get("signature"));
      equal(Hex.encode(key.publicKey()), (String) v.get("publicKey"), "RFC 8032 " + v.get("name") + " public key");
      equal(Hex.encode(key.sign(message)), (String) v.get("signature"), "RFC 8032 " + v.get("name") + " signature");
      check(Ed25519.verify(signature, message, key.publicKey()), "RFC 8032 " + v.get("name") + " verifies");
      check(!Ed25519.verify(signature, Arrays.copyOf(message, message.length + 1), key.publicKey()), "RFC 8032 " + v.get("name") + " refuses another message");
    }
    for (Object o : Json.array(vectors(dir, "strict-ed25519.json").get("vectors"), "vectors")) {
      Map<String, Object> v = Json.object(o, "vector");
      boolean verdict = Ed25519.verify(Hex.decode((String) v.get("signature")), Hex.decode((String) v.get("message")), Hex.decode((String) v.get("publicKey")));
      equal(verdict, (Boolean) v.get("strict"), "strict: " + v.get("name"));
    }
    Ed25519.SigningKey fresh = Ed25519.SigningKey.generate();
    byte[] sig = fresh.sign("m".getBytes(StandardCharsets.UTF_8));
    BigInteger order = BigInteger.TWO.pow(252).add(new BigInteger("27742317777372353535851937790883648493"));
    byte[] high = sig.clone();
    byte[] s = littleEndian(new BigInteger(1, reverse(Arrays.copyOfRange(sig, 32, 64))).add(order));
    System.arraycopy(s, 0, high, 32, 32);
    check(Ed25519.verify(sig, "m".getBytes(StandardCharsets.UTF_8), fresh.publicKey()), "a fresh signature verifies");
    check(!Ed25519.verify(high, "m".getBytes(StandardCharsets.UTF_8), fresh.publicKey()), "S + L is refused");
    check(!Ed25519.isAcceptablePublicKey(Hex.decode("0100000000000000000000000000000000000000000000000000000000000000")), "the identity is not a key");
    check(!Ed25519.isAcceptablePublicKey(new byte[32]), "a point of order 4 is not a key");

    // flashtrail's golden events (test/helpers/golden.ts)
    Map<String, Object> golden = vectors(dir, "golden-events.json");
    Ed25519.SigningKey key = Ed25519.SigningKey.fromSeed(Hex.decode("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"));
    equal(Hex.encode(key.publicKey()), (String) golden.get("publicKey"), "golden public key");
    equal(key.keyId(), (String) golden.get("keyId"), "golden key id");
    Events.EventSigner signer = new Events.EventSigner(key, "ST-01");
    Events.SignedEvent first = signer.sign("UnitScanned", Json.obj("serial", "SN0000001", "batchId", "B-2026-03-02", "station", "ST-01", "operator", "op-Ünal",
        "productSku", "SENSOR-S3", "hardwareRevision", "rev-C", "mac", "24:0a:c4:12:34:56"), "0b6c3b9e-5f0f-4a43-9d2c-8f1e2a7c4d10", Instant.parse("2026-03-02T08:15:30.125Z"));
    Events.SignedEvent second = signer.sign("BootloaderWritten", Json.obj("serial", "SN0000001", "imageSha256", "a".repeat(64), "version", "bl-2.4.1", "sizeBytes", 28672,
        "signingKeyRef", "SENSOR-S3-sb-key", "signingKeyDigest", "b".repeat(64)), "5d0e8c57-1f62-4b6e-bb57-3c5f2f8a9e21", Instant.parse("2026-03-02T08:15:41.000Z"));
    List<Object> goldenEvents = Json.array(golden.get("events"), "events");
    Events.SignedEvent[] signed = {first, second};
    for (int i = 0; i < 2; i++) {
      Map<String, Object> g = Json.object(goldenEvents.get(i), "golden event");
      equal(Jcs.canonicalize(signed[i].envelope), Jcs.canonicalize(g.get("envelope")), "golden event " + i + " envelope");
      equal(new String(Dsse.envelopeBytes(signed[i].envelope), StandardCharsets.UTF_8), (String) g.get("canonicalEnvelope"), "golden event " + i + " canonical envelope");
      equal(signed[i].digest, (String) g.get("digest"), "golden event " + i + " digest");
      Events.DecodedEvent decoded = Events.decodeUntrustedEnvelope(g.get("envelope"));
      equal(decoded.digest, (String) g.get("digest"), "golden event " + i + " decodes to its digest");
      check(Dsse.verifyEnvelopeSignature(Json.object(g.get("envelope"), "envelope"), key.publicKey()), "golden event " + i + " signature verifies");
    }
    check(first.event.get("prev") == null, "the first event has no prev");
    equal(second.event.get("prev"), first.digest, "the second event chains to the first");

    Map<String, Object> envelope = Json.object(Json.object(goldenEvents.get(0), "golden").get("envelope"), "envelope");
    Object payload = Json.parse(new String(Hex.base64Canonical((String) envelope.get("payload")), StandardCharsets.UTF_8));
    String spaced = Jcs.canonicalize(payload).replace(",", ", ");
    Map<String, Object> notCanonical = Json.obj("payloadType", envelope.get("payloadType"), "payload", Hex.base64(spaced.getBytes(StandardCharsets.UTF_8)), "signatures", envelope.get("signatures"));
    Map<String, Object> unpadded = Json.obj("payloadType", envelope.get("payloadType"), "payload", ((String) envelope.get("payload")).replace("=", ""), "signatures", envelope.get("signatures"));
    Map<String, Object> twoSignatures = Json.obj("payloadType", envelope.get("payloadType"), "payload", envelope.get("payload"),
        "signatures", List.of(Json.array(envelope.get("signatures"), "s").get(0), Json.array(envelope.get("signatures"), "s").get(0)));
    Object[][] refusals = {{notCanonical, "PAYLOAD_NOT_CANONICAL"}, {unpadded, "ENVELOPE_INVALID"}, {twoSignatures, "ENVELOPE_INVALID"}};
    for (Object[] r : refusals) {
      try {
        Events.decodeUntrustedEnvelope(r[0]);
        check(false, "decoder refuses " + r[1]);
      } catch (Events.EnvelopeDecodeException e) {
        equal(e.code, (String) r[1], "decoder refusal code");
      }
    }

    // key files
    Path tmp = Files.createTempDirectory("flashtrail-java-test");
    Path keyPath = tmp.resolve("st.key");
    KeyFile.write(keyPath, fresh, "ST-01");
    equal(PosixFilePermissions.toString(Files.getPosixFilePermissions(keyPath)), "rw-------", "key file mode");
    equal(KeyFile.read(keyPath).keyId(), fresh.keyId(), "key file round trip");
    throwsException(() -> KeyFile.write(keyPath, Ed25519.SigningKey.generate(), null), KeyFile.KeyFileException.class, "a key file is never overwritten");
    Files.setPosixFilePermissions(keyPath, PosixFilePermissions.fromString("rw-r--r--"));
    throwsException(() -> KeyFile.read(keyPath), KeyFile.KeyFileException.class, "a key file others can read is refused");
    Files.delete(keyPath);
    Files.delete(tmp);

    // RFC 6962 inclusion in a three-leaf tree
    byte[][] leaves = {Provenance.leafHash(new byte[] {0}), Provenance.leafHash(new byte[] {1}), Provenance.leafHash(new byte[] {2})};
    byte[] root = Provenance.nodeHash(Provenance.nodeHash(leaves[0], leaves[1]), leaves[2]);
    check(Provenance.verifyInclusion(leaves[2], 2, 3, List.of(Provenance.nodeHash(leaves[0], leaves[1])), root), "inclusion of leaf 2 of 3");
    check(Provenance.verifyInclusion(leaves[0], 0, 3, List.of(leaves[1], leaves[2]), root), "inclusion of leaf 0 of 3");
    check(!Provenance.verifyInclusion(leaves[0], 1, 3, List.of(leaves[1], leaves[2]), root), "a proof for another index is refused");

    System.out.println(failures == 0 ? "ok " + checks + " checks" : failures + " of " + checks + " checks FAILED");
    System.exit(failures == 0 ? 0 : 1);
  }

  private static byte[] reverse(byte[] b) {
    byte[] r = new byte[b.length];
    for (int i = 0; i < b.length; i++) r[i] = b[b.length - 1 - i];
    return r;
  }

  private static byte[] littleEndian(BigInteger v) {
    byte[] out = new byte[32];
    byte[] be = v.toByteArray();
    for (int i = 0; i < be.length && i < 32; i++) out[i] = be[be.length - 1 - i];
    return out;
  }
}
