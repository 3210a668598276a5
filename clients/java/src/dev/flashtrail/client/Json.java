package dev.flashtrail.client;

import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A small JSON reader, strict as ECMAScript's JSON.parse: RFC 8259 grammar only (no NaN, no comments, no
 * trailing commas), every number a double, a repeated member keeps its last value. Objects are
 * {@code Map<String, Object>} (insertion order), arrays {@code List<Object>}, JSON null is Java null.
 * Writing is {@link Jcs#canonicalize}, whose output is JSON too.
 */
public final class Json {
  private Json() {}

  /** The parser refuses deeper documents, so that hostile input cannot exhaust the stack. */
  public static final int MAX_PARSE_DEPTH = 512;

  public static final class ParseException extends Exception {
    private static final long serialVersionUID = 1L;

    ParseException(String message) {
      super(message);
    }
  }

  public static Object parse(String text) throws ParseException {
    Reader r = new Reader(text);
    r.skipWhitespace();
    Object value = r.value(0);
    r.skipWhitespace();
    if (r.pos != text.length()) throw r.error("unexpected data after the JSON value");
    return value;
  }

  /** Strict UTF-8 (a malformed byte is an error, not U+FFFD). */
  public static String utf8(byte[] bytes) throws CharacterCodingException {
    return StandardCharsets.UTF_8.newDecoder()
        .onMalformedInput(CodingErrorAction.REPORT)
        .onUnmappableCharacter(CodingErrorAction.REPORT)
        .decode(ByteBuffer.wrap(bytes))
        .toString();
  }

  // ---- typed access to parsed values, with one clear message when the shape is wrong ------------------

  @SuppressWarnings("unchecked")
  public static Map<String, Object> object(Object value, String what) {
    if (value instanceof Map) return (Map<String, Object>) value;
    throw new IllegalArgumentException(what + " is not a JSON object");
  }

  @SuppressWarnings("unchecked")
  public static List<Object> array(Object value, String what) {
    if (value instanceof List) return (List<Object>) value;
    throw new IllegalArgumentException(what + " is not a JSON array");
  }

  public static String string(Object value, String what) {
    if (value instanceof String) return (String) value;
    throw new IllegalArgumentException(what + " is not a JSON string");
  }

  /** A number that is an integer a double holds exactly (|n| ≤ 2^53 − 1), as Number.isSafeInteger. */
  public static boolean isSafeInteger(Object value) {
    if (!(value instanceof Double)) return value instanceof Integer || value instanceof Long && Math.abs((Long) value) <= 9007199254740991L;
    double d = (Double) value;
    return d == Math.rint(d) && Math.abs(d) <= 9007199254740991.0;
  }

  public static long integer(Object value, String what) {
    if (!isSafeInteger(value)) throw new IllegalArgumentException(what + " is not an integer");
    return ((Number) value).longValue();
  }

  /** A map from alternating names and values, in that order: {@code Json.obj("serial", s, "reason", r)}. */
  public static Map<String, Object> obj(Object... namesAndValues) {
    if (namesAndValues.length % 2 != 0) throw new IllegalArgumentException("obj() takes names and values in pairs");
    Map<String, Object> map = new LinkedHashMap<>();
    for (int i = 0; i < namesAndValues.length; i += 2) map.put((String) namesAndValues[i], namesAndValues[i + 1]);
    return map;
  }

  private static final class Reader {
    final String s;
    int pos;

    Reader(String s) {
      this.s = s;
    }

    ParseException error(String message) {
      return new ParseException(message + " at offset " + pos);
    }

    void skipWhitespace() {
      while (pos < s.length()) {
        char c = s.charAt(pos);
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') return;
        pos++;
      }
    }

    Object value(int depth) throws ParseException {
      if (pos >= s.length()) throw error("unexpected end of JSON");
      char c = s.charAt(pos);
      switch (c) {
        case '{':
          return object(depth + 1);
        case '[':
          return array(depth + 1);
        case '"':
          return string();
        case 't':
          return literal("true", Boolean.TRUE);
        case 'f':
          return literal("false", Boolean.FALSE);
        case 'n':
          return literal("null", null);
        default:
          if (c == '-' || (c >= '0' && c <= '9')) return number();
          throw error("unexpected character '" + c + "'");
      }
    }

    Object literal(String word, Object value) throws ParseException {
      if (!s.startsWith(word, pos)) throw error("unexpected token");
      pos += word.length();
      return value;
    }

    Map<String, Object> object(int depth) throws ParseException {
      if (depth > MAX_PARSE_DEPTH) throw error("nested deeper than " + MAX_PARSE_DEPTH + " levels");
      pos++;
      Map<String, Object> map = new LinkedHashMap<>();
      skipWhitespace();
      if (pos < s.length() && s.charAt(pos) == '}') {
        pos++;
        return map;
      }
      while (true) {
        skipWhitespace();
        if (pos >= s.length() || s.charAt(pos) != '"') throw error("expected a member name");
        String name = string();
        skipWhitespace();
        if (pos >= s.length() || s.charAt(pos) != ':') throw error("expected ':'");
        pos++;
        skipWhitespace();
        Object value = value(depth);
        map.put(name, value); // a repeated member keeps its first position and its last value, as in JSON.parse
        skipWhitespace();
        if (pos >= s.length()) throw error("unterminated object");
        char c = s.charAt(pos++);
        if (c == '}') return map;
        if (c != ',') throw error("expected ',' or '}'");
      }
    }

    List<Object> array(int depth) throws ParseException {
      if (depth > MAX_PARSE_DEPTH) throw error("nested deeper than " + MAX_PARSE_DEPTH + " levels");
      pos++;
      List<Object> list = new ArrayList<>();
      skipWhitespace();
      if (pos < s.length() && s.charAt(pos) == ']') {
        pos++;
        return list;
      }
      while (true) {
        skipWhitespace();
        list.add(value(depth));
        skipWhitespace();
        if (pos >= s.length()) throw error("unterminated array");
        char c = s.charAt(pos++);
        if (c == ']') return list;
        if (c != ',') throw error("expected ',' or ']'");
      }
    }

    String string() throws ParseException {
      pos++; // opening quote
      StringBuilder out = new StringBuilder();
      while (true) {
        if (pos >= s.length()) throw error("unterminated string");
        char c = s.charAt(pos++);
        if (c == '"') return out.toString();
        if (c < 0x20) throw error("control character in string");
        if (c != '\\') {
          out.append(c);
          continue;
        }
        if (pos >= s.length()) throw error("unterminated escape");
        char e = s.charAt(pos++);
        switch (e) {
          case '"': out.append('"'); break;
          case '\\': out.append('\\'); break;
          case '/': out.append('/'); break;
          case 'b': out.append('\b'); break;
          case 'f': out.append('\f'); break;
          case 'n': out.append('\n'); break;
          case 'r': out.append('\r'); break;
          case 't': out.append('\t'); break;
          case 'u':
            if (pos + 4 > s.length()) throw error("short \\u escape");
            int code = 0;
            for (int i = 0; i < 4; i++) {
              int d = Character.digit(s.charAt(pos++), 16);
              if (d < 0) throw error("bad \\u escape");
              code = code * 16 + d;
            }
            out.append((char) code); // a lone surrogate stays one; Jcs refuses it
            break;
          default:
            throw error("bad escape \\" + e);
        }
      }
    }

    Double number() throws ParseException {
      int start = pos;
      if (s.charAt(pos) == '-') pos++;
      if (pos < s.length() && s.charAt(pos) == '0') pos++;
      else if (!digits()) throw error("bad number");
      if (pos < s.length() && s.charAt(pos) == '.') {
        pos++;
        if (!digits()) throw error("bad number");
      }
      if (pos < s.length() && (s.charAt(pos) == 'e' || s.charAt(pos) == 'E')) {
        pos++;
        if (pos < s.length() && (s.charAt(pos) == '+' || s.charAt(pos) == '-')) pos++;
        if (!digits()) throw error("bad number");
      }
      // Correctly rounded to the nearest double, as JSON.parse does; too large is Infinity (which Jcs refuses).
      return Double.parseDouble(s.substring(start, pos));
    }

    boolean digits() {
      int start = pos;
      while (pos < s.length() && s.charAt(pos) >= '0' && s.charAt(pos) <= '9') pos++;
      return pos > start;
    }
  }
}
