package dev.flashtrail.client;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/** DSSE v1 envelopes (https://github.com/secure-systems-lab/dsse/blob/master/protocol.md) as flashtrail signs them. */
public final class Dsse {
  private Dsse() {}

  /** PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body; lengths in bytes, ASCII decimal. */
  public static byte[] pae(String payloadType, byte[] body) {
    byte[] type = payloadType.getBytes(StandardCharsets.UTF_8);
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    out.writeBytes(("DSSEv1 " + type.length + " ").getBytes(StandardCharsets.US_ASCII));
    out.writeBytes(type);
    out.writeBytes((" " + body.length + " ").getBytes(StandardCharsets.US_ASCII));
    out.writeBytes(body);
    return out.toByteArray();
  }

  public static Map<String, Object> signEnvelope(String payloadType, byte[] body, Ed25519.SigningKey key) throws GeneralSecurityException {
    byte[] signature = key.sign(pae(payloadType, body));
    return Json.obj("payloadType", payloadType, "payload", Hex.base64(body), "signatures", List.of(Json.obj("keyid", key.keyId(), "sig", Hex.base64(signature))));
  }

  /** Exactly one signature, over PAE of the decoded payload, strict RFC 8032. */
  public static boolean verifyEnvelopeSignature(Map<String, Object> envelope, byte[] publicKey) {
    try {
      List<Object> signatures = Json.array(envelope.get("signatures"), "signatures");
      if (signatures.size() != 1) return false;
      byte[] body = Hex.base64Canonical(Json.string(envelope.get("payload"), "payload"));
      byte[] signature = Hex.base64Canonical(Json.string(Json.object(signatures.get(0), "signature").get("sig"), "sig"));
      return Ed25519.verify(signature, pae(Json.string(envelope.get("payloadType"), "payloadType"), body), publicKey);
    } catch (IllegalArgumentException e) {
      return false;
    }
  }

  /** The bytes that identify a signed envelope: its RFC 8785 form, hashed for the chain and the Merkle log. */
  public static byte[] envelopeBytes(Map<String, Object> envelope) {
    List<Object> signatures = new ArrayList<>();
    for (Object s : Json.array(envelope.get("signatures"), "signatures")) {
      Map<String, Object> sig = Json.object(s, "signature");
      signatures.add(Json.obj("keyid", sig.get("keyid"), "sig", sig.get("sig")));
    }
    return Jcs.canonicalBytes(Json.obj("payloadType", envelope.get("payloadType"), "payload", envelope.get("payload"), "signatures", signatures));
  }

  /** Hex SHA-256 of the envelope bytes: the {@code prev} of the next event in the same stream. */
  public static String envelopeDigest(Map<String, Object> envelope) {
    return Hex.encode(Ed25519.sha(envelopeBytes(envelope), "SHA-256"));
  }
}
