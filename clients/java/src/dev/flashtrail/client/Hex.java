package dev.flashtrail.client;

import java.util.Base64;

/** Lowercase hex and canonical standard base64: the only encodings flashtrail accepts. */
public final class Hex {
  private Hex() {}

  private static final char[] DIGITS = "0123456789abcdef".toCharArray();

  public static String encode(byte[] bytes) {
    char[] out = new char[bytes.length * 2];
    for (int i = 0; i < bytes.length; i++) {
      out[2 * i] = DIGITS[(bytes[i] >> 4) & 15];
      out[2 * i + 1] = DIGITS[bytes[i] & 15];
    }
    return new String(out);
  }

  /** Lowercase hex with an even number of digits, nothing else. */
  public static byte[] decode(String hex) {
    if (hex.length() % 2 != 0 || !hex.matches("[0-9a-f]*")) throw new IllegalArgumentException("expected lowercase hex with an even number of digits");
    byte[] out = new byte[hex.length() / 2];
    for (int i = 0; i < out.length; i++) out[i] = (byte) Integer.parseInt(hex.substring(2 * i, 2 * i + 2), 16);
    return out;
  }

  public static String base64(byte[] bytes) {
    return Base64.getEncoder().encodeToString(bytes);
  }

  /** Standard padded base64, refusing every other spelling of the same bytes (no padding, stray bits). */
  public static byte[] base64Canonical(String text) {
    byte[] bytes;
    try {
      bytes = Base64.getDecoder().decode(text);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("expected canonical standard base64 with padding");
    }
    if (!base64(bytes).equals(text)) throw new IllegalArgumentException("expected canonical standard base64 with padding");
    return bytes;
  }
}
