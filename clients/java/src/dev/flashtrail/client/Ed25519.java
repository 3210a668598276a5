package dev.flashtrail.client;

import java.math.BigInteger;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.security.PrivateKey;
import java.security.PublicKey;
import java.security.SecureRandom;
import java.security.Signature;
import java.security.spec.EdECPoint;
import java.security.spec.EdECPrivateKeySpec;
import java.security.spec.EdECPublicKeySpec;
import java.security.spec.NamedParameterSpec;
import java.util.Arrays;

/**
 * Ed25519 with the JDK's own implementation ({@code KeyFactory}/{@code Signature} "Ed25519", JDK 15+),
 * and strict RFC 8032 verification with the verdicts of flashtrail's ledger. The rule is the ledger's
 * (src/crypto/ed25519.ts), whatever the JDK does by itself: S below the group order L; the public key the
 * canonical encoding of a point not of small order; R canonically encoded and not of small order; and the
 * cofactorless equation [S]B = R + [k]A, which the JDK checks. The JDK has no call that derives the public
 * key from an RFC 8032 seed, so {@link #publicKeyOf} computes [a]B itself.
 */
public final class Ed25519 {
  private Ed25519() {}

  private static final BigInteger P = BigInteger.TWO.pow(255).subtract(BigInteger.valueOf(19));
  static final BigInteger L = BigInteger.TWO.pow(252).add(new BigInteger("27742317777372353535851937790883648493"));
  private static final BigInteger D = BigInteger.valueOf(-121665).multiply(BigInteger.valueOf(121666).modInverse(P)).mod(P);
  private static final BigInteger SQRT_M1 = BigInteger.TWO.modPow(P.subtract(BigInteger.ONE).shiftRight(2), P);
  private static final BigInteger BASE_Y = BigInteger.valueOf(4).multiply(BigInteger.valueOf(5).modInverse(P)).mod(P);
  private static final BigInteger[] BASE = decodePoint(encodeY(BASE_Y, false));

  /** An Ed25519 key as flashtrail holds it: the 32-byte RFC 8032 seed, its public key and its key id. */
  public static final class SigningKey {
    private final byte[] secretKey;
    private final byte[] publicKey;
    private final String keyId;
    private final PrivateKey jdkKey;

    private SigningKey(byte[] seed) throws GeneralSecurityException {
      this.secretKey = seed.clone();
      this.publicKey = publicKeyOf(seed);
      this.keyId = keyIdOf(publicKey);
      this.jdkKey = KeyFactory.getInstance("Ed25519").generatePrivate(new EdECPrivateKeySpec(NamedParameterSpec.ED25519, seed));
    }

    public static SigningKey fromSeed(byte[] seed) throws GeneralSecurityException {
      if (seed.length != 32) throw new IllegalArgumentException("an Ed25519 secret key (RFC 8032 seed) is 32 bytes");
      return new SigningKey(seed);
    }

    public static SigningKey generate() throws GeneralSecurityException {
      byte[] seed = new byte[32];
      SecureRandom.getInstanceStrong().nextBytes(seed);
      return new SigningKey(seed);
    }

    public byte[] sign(byte[] message) throws GeneralSecurityException {
      Signature s = Signature.getInstance("Ed25519");
      s.initSign(jdkKey);
      s.update(message);
      return s.sign();
    }

    public byte[] secretKey() {
      return secretKey.clone();
    }

    public byte[] publicKey() {
      return publicKey.clone();
    }

    public String keyId() {
      return keyId;
    }

    @Override
    public String toString() { // never print the secret half
      return "SigningKey(" + keyId + ")";
    }
  }

  /** A key id is the hex SHA-256 of the raw 32-byte public key, so one id can never name two keys. */
  public static String keyIdOf(byte[] publicKey) {
    return Hex.encode(sha(publicKey, "SHA-256"));
  }

  /** Strict RFC 8032 verification; answers false for every malformed input, never throws. */
  public static boolean verify(byte[] signature, byte[] message, byte[] publicKey) {
    if (signature.length != 64 || publicKey.length != 32) return false;
    if (littleEndian(Arrays.copyOfRange(signature, 32, 64)).compareTo(L) >= 0) return false;
    BigInteger[] r = decodePoint(Arrays.copyOfRange(signature, 0, 32));
    if (r == null || isSmallOrder(r)) return false;
    if (!isAcceptablePublicKey(publicKey)) return false;
    try {
      byte[] yBytes = publicKey.clone();
      boolean xOdd = (yBytes[31] & 0x80) != 0;
      yBytes[31] &= 0x7f;
      PublicKey key = KeyFactory.getInstance("Ed25519").generatePublic(new EdECPublicKeySpec(NamedParameterSpec.ED25519, new EdECPoint(xOdd, littleEndian(yBytes))));
      Signature s = Signature.getInstance("Ed25519");
      s.initVerify(key);
      s.update(message);
      return s.verify(signature);
    } catch (GeneralSecurityException | RuntimeException e) {
      return false;
    }
  }

  /** The canonical encoding of a curve point that is not of small order ([8]A is not the identity). */
  public static boolean isAcceptablePublicKey(byte[] publicKey) {
    if (publicKey.length != 32) return false;
    BigInteger[] point = decodePoint(publicKey);
    return point != null && !isSmallOrder(point);
  }

  /** [8]P is the identity. */
  private static boolean isSmallOrder(BigInteger[] point) {
    for (int i = 0; i < 3; i++) point = add(point, point);
    return point[0].signum() == 0 && point[1].equals(BigInteger.ONE);
  }

  /** RFC 8032 §5.1.5: A = [a]B with a the clamped first half of SHA-512(seed). */
  public static byte[] publicKeyOf(byte[] seed) {
    byte[] h = Arrays.copyOf(sha(seed, "SHA-512"), 32);
    h[0] &= (byte) 248;
    h[31] &= 127;
    h[31] |= 64;
    BigInteger a = littleEndian(h);
    BigInteger[] result = {BigInteger.ZERO, BigInteger.ONE};
    BigInteger[] addend = BASE;
    for (int i = 0; i < a.bitLength(); i++) {
      if (a.testBit(i)) result = add(result, addend);
      addend = add(addend, addend);
    }
    return encodeY(result[1], result[0].testBit(0));
  }

  /** RFC 8032 §5.1.3 decoding, refusing every non-canonical encoding; {x, y} or null. */
  static BigInteger[] decodePoint(byte[] encoded) {
    byte[] yBytes = encoded.clone();
    int sign = (yBytes[31] >> 7) & 1;
    yBytes[31] &= 0x7f;
    BigInteger y = littleEndian(yBytes);
    if (y.compareTo(P) >= 0) return null;
    BigInteger y2 = y.multiply(y).mod(P);
    BigInteger u = y2.subtract(BigInteger.ONE).mod(P);
    BigInteger v = D.multiply(y2).add(BigInteger.ONE).mod(P);
    BigInteger v3 = v.modPow(BigInteger.valueOf(3), P);
    BigInteger v7 = v.modPow(BigInteger.valueOf(7), P);
    BigInteger x = u.multiply(v3).multiply(u.multiply(v7).modPow(P.subtract(BigInteger.valueOf(5)).shiftRight(3), P)).mod(P);
    BigInteger vx2 = v.multiply(x).multiply(x).mod(P);
    if (vx2.equals(u.negate().mod(P))) x = x.multiply(SQRT_M1).mod(P);
    else if (!vx2.equals(u)) return null;
    if (x.signum() == 0 && sign == 1) return null;
    if (x.testBit(0) != (sign == 1)) x = P.subtract(x);
    return new BigInteger[] {x, y};
  }

  /** The complete twisted Edwards addition law for a = −1, in affine coordinates. */
  private static BigInteger[] add(BigInteger[] p, BigInteger[] q) {
    BigInteger t = D.multiply(p[0]).multiply(q[0]).multiply(p[1]).multiply(q[1]).mod(P);
    BigInteger x = p[0].multiply(q[1]).add(p[1].multiply(q[0])).multiply(BigInteger.ONE.add(t).modInverse(P)).mod(P);
    BigInteger y = p[1].multiply(q[1]).add(p[0].multiply(q[0])).multiply(BigInteger.ONE.subtract(t).mod(P).modInverse(P)).mod(P);
    return new BigInteger[] {x, y};
  }

  private static byte[] encodeY(BigInteger y, boolean xOdd) {
    byte[] out = new byte[32];
    byte[] be = y.toByteArray();
    for (int i = 0; i < be.length && i < 32; i++) out[i] = be[be.length - 1 - i];
    if (xOdd) out[31] |= (byte) 0x80;
    return out;
  }

  static BigInteger littleEndian(byte[] bytes) {
    byte[] be = new byte[bytes.length];
    for (int i = 0; i < bytes.length; i++) be[i] = bytes[bytes.length - 1 - i];
    return new BigInteger(1, be);
  }

  static byte[] sha(byte[] data, String algorithm) {
    try {
      return MessageDigest.getInstance(algorithm).digest(data);
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(algorithm + " is part of every JDK", e);
    }
  }
}
