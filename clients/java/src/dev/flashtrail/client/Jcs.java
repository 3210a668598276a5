package dev.flashtrail.client;

import java.math.BigDecimal;
import java.math.MathContext;
import java.math.RoundingMode;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;

/**
 * RFC 8785 JSON Canonicalization Scheme (JCS), byte for byte what flashtrail's ledger computes.
 *
 * <p>Values are {@code Map<String, ?>}, {@code List<?>} (or any Collection), String, Boolean, null and
 * numbers (Integer, Long, Short, Byte, Double, Float). Every number is an IEEE 754 double (RFC 8785
 * §3.2.2.3) written as ECMAScript's Number.prototype.toString writes it: the shortest digits that read
 * back as the same double, nearest to it (ties to an even last digit), then ECMAScript's choice of plain or
 * exponent notation. {@code Double.toString} is not that algorithm (before JDK 19 it is not even
 * shortest), so {@link #numberToString} finds the digits itself. Object members are sorted by UTF-16 code
 * units, which is {@link String#compareTo}. What has no canonical form is refused with its path.
 */
public final class Jcs {
  private Jcs() {}

  public static final int DEFAULT_MAX_DEPTH = 64;

  /** A value with no RFC 8785 form; {@link #path} is JSONPath-like, e.g. {@code $.data.fuses[2]}. */
  public static final class CanonicalizationException extends IllegalArgumentException {
    private static final long serialVersionUID = 1L;
    public final String reason;
    public final String path;

    CanonicalizationException(String reason, String path) {
      super(path + ": " + reason);
      this.reason = reason;
      this.path = path;
    }
  }

  /** Thrown inside the recursion; the path is collected while unwinding. */
  private static final class Located extends RuntimeException {
    private static final long serialVersionUID = 1L;
    final List<String> path = new ArrayList<>();

    Located(String reason) {
      super(reason, null, false, false);
    }
  }

  public static String canonicalize(Object value) {
    return canonicalize(value, DEFAULT_MAX_DEPTH);
  }

  public static String canonicalize(Object value, int maxDepth) {
    StringBuilder out = new StringBuilder();
    try {
      serialize(value, 0, maxDepth, out);
    } catch (Located failure) {
      StringBuilder path = new StringBuilder("$");
      for (int i = failure.path.size() - 1; i >= 0; i--) path.append(failure.path.get(i));
      throw new CanonicalizationException(failure.getMessage(), path.toString());
    }
    return out.toString();
  }

  public static byte[] canonicalBytes(Object value) {
    return canonicalize(value).getBytes(StandardCharsets.UTF_8);
  }

  private static void serialize(Object value, int depth, int maxDepth, StringBuilder out) {
    if (value == null) {
      out.append("null");
    } else if (value instanceof Boolean) {
      out.append(((Boolean) value) ? "true" : "false");
    } else if (value instanceof String) {
      string((String) value, out);
    } else if (value instanceof Double || value instanceof Float) {
      double d = ((Number) value).doubleValue();
      if (Double.isNaN(d) || Double.isInfinite(d)) throw new Located(d + " has no JSON form");
      out.append(numberToString(d));
    } else if (value instanceof Integer || value instanceof Short || value instanceof Byte) {
      out.append(numberToString(((Number) value).intValue()));
    } else if (value instanceof Long) {
      long l = (Long) value;
      double d = (double) l;
      // (long) of 2^63 saturates to Long.MAX_VALUE, which is not 2^63: the comparison stays honest.
      if (d == 0x1p63 || (long) d != l) throw new Located("the integer " + l + " is not exactly an IEEE 754 double (RFC 8785 §3.2.2.3)");
      out.append(numberToString(d));
    } else if (value instanceof Map || value instanceof Collection) {
      if (depth >= maxDepth) throw new Located("nested deeper than " + maxDepth + " levels");
      if (value instanceof Map) {
        Map<?, ?> map = (Map<?, ?>) value;
        List<String> keys = new ArrayList<>();
        for (Object k : map.keySet()) {
          if (!(k instanceof String)) throw new Located("object member names must be strings");
          keys.add((String) k);
        }
        keys.sort(null); // String.compareTo compares UTF-16 code units, as RFC 8785 §3.2.3 asks
        out.append('{');
        for (int i = 0; i < keys.size(); i++) {
          String k = keys.get(i);
          try {
            if (i > 0) out.append(',');
            string(k, out);
            out.append(':');
            serialize(map.get(k), depth + 1, maxDepth, out);
          } catch (Located failure) {
            failure.path.add("." + k);
            throw failure;
          }
        }
        out.append('}');
      } else {
        out.append('[');
        int i = 0;
        for (Object item : (Collection<?>) value) {
          try {
            if (i > 0) out.append(',');
            serialize(item, depth + 1, maxDepth, out);
          } catch (Located failure) {
            failure.path.add("[" + i + "]");
            throw failure;
          }
          i++;
        }
        out.append(']');
      }
    } else {
      throw new Located(value.getClass().getSimpleName() + " has no JSON form");
    }
  }

  private static final char[] HEX = "0123456789abcdef".toCharArray();

  /** JSON.stringify's escapes; a lone surrogate is not I-JSON (RFC 7493) and is refused. */
  private static void string(String s, StringBuilder out) {
    out.append('"');
    for (int i = 0; i < s.length(); i++) {
      char c = s.charAt(i);
      if (Character.isHighSurrogate(c)) {
        if (i + 1 >= s.length() || !Character.isLowSurrogate(s.charAt(i + 1))) throw new Located("string holds a lone surrogate (not I-JSON, RFC 7493)");
        out.append(c).append(s.charAt(++i));
        continue;
      }
      if (Character.isLowSurrogate(c)) throw new Located("string holds a lone surrogate (not I-JSON, RFC 7493)");
      switch (c) {
        case '"': out.append("\\\""); break;
        case '\\': out.append("\\\\"); break;
        case '\b': out.append("\\b"); break;
        case '\t': out.append("\\t"); break;
        case '\n': out.append("\\n"); break;
        case '\f': out.append("\\f"); break;
        case '\r': out.append("\\r"); break;
        default:
          if (c < 0x20) out.append("\\u00").append(HEX[c >> 4]).append(HEX[c & 15]);
          else out.append(c);
      }
    }
    out.append('"');
  }

  /**
   * ECMAScript Number::toString (ECMA-262 §6.1.6.1.20) of a finite double. Finds k, the fewest decimal
   * digits s that read back as {@code x}: at each precision the only candidates are the values just below
   * and just above x (any other p-digit value is farther from x than one of them), and the nearest of those
   * that round-trips is taken, an even last digit on a tie.
   */
  public static String numberToString(double x) {
    if (Double.isNaN(x) || Double.isInfinite(x)) throw new IllegalArgumentException(x + " has no JSON form");
    if (x == 0) return "0"; // also -0
    if (x < 0) return "-" + numberToString(-x);
    BigDecimal exact = new BigDecimal(x);
    BigDecimal chosen = null;
    for (int p = 1; p <= 17 && chosen == null; p++) {
      BigDecimal below = exact.round(new MathContext(p, RoundingMode.FLOOR));
      BigDecimal above = exact.round(new MathContext(p, RoundingMode.CEILING));
      boolean belowOk = Double.parseDouble(below.toString()) == x;
      boolean aboveOk = Double.parseDouble(above.toString()) == x;
      if (belowOk && aboveOk && below.compareTo(above) != 0) {
        int c = exact.subtract(below).compareTo(above.subtract(exact));
        chosen = c < 0 ? below : c > 0 ? above : (below.unscaledValue().testBit(0) ? above : below);
      } else if (belowOk) {
        chosen = below;
      } else if (aboveOk) {
        chosen = above;
      }
    }
    if (chosen == null) throw new AssertionError("17 significant digits always round-trip a double");
    BigDecimal stripped = chosen.stripTrailingZeros();
    String digits = stripped.unscaledValue().toString();
    int k = digits.length();
    int n = k - stripped.scale(); // x = 0.digits × 10^n
    if (k <= n && n <= 21) return digits + "0".repeat(n - k);
    if (0 < n && n <= 21) return digits.substring(0, n) + "." + digits.substring(n);
    if (-6 < n && n <= 0) return "0." + "0".repeat(-n) + digits;
    String exponent = (n - 1 >= 0 ? "+" : "-") + Math.abs(n - 1);
    return (k == 1 ? digits : digits.charAt(0) + "." + digits.substring(1)) + "e" + exponent;
  }

  /** Nesting depth of JSON text, counted without parsing it (brackets outside strings). */
  public static int jsonNestingDepth(String text) {
    int depth = 0;
    int max = 0;
    boolean inString = false;
    for (int i = 0; i < text.length(); i++) {
      char c = text.charAt(i);
      if (inString) {
        if (c == '\\') i++;
        else if (c == '"') inString = false;
      } else if (c == '"') inString = true;
      else if (c == '{' || c == '[') max = Math.max(max, ++depth);
      else if (c == '}' || c == ']') depth--;
    }
    return max;
  }
}
