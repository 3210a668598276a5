package dev.flashtrail.client;

import java.io.IOException;
import java.io.InputStream;
import java.net.ConnectException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Map;

/**
 * A small client for the flashtrail ledger API ({@code java.net.http.HttpClient}). Failures are exceptions
 * with one clear line: {@link LedgerException} carries the ledger's RFC 9457 problem document and its
 * stable {@code code}; {@link LedgerUnreachableException} means no answer at all.
 */
public final class LedgerClient {
  /** The ledger answered with an error: status, code (e.g. RULE_VIOLATION), detail and the problem document. */
  public static final class LedgerException extends Exception {
    private static final long serialVersionUID = 1L;
    public final int status;
    public final String code;
    public final String detail;
    public final transient Map<String, Object> problem;

    LedgerException(int status, Map<String, Object> problem) {
      super(status + " " + problem.getOrDefault("code", "HTTP_ERROR") + ": " + problem.getOrDefault("detail", "")
          + (problem.get("rule") != null ? " (rule " + problem.get("rule") + ")" : ""));
      this.status = status;
      this.problem = problem;
      this.code = String.valueOf(problem.getOrDefault("code", "HTTP_ERROR"));
      this.detail = String.valueOf(problem.getOrDefault("detail", ""));
    }
  }

  /** No HTTP answer: the ledger is down, the address is wrong, or the network is in the way. */
  public static final class LedgerUnreachableException extends Exception {
    private static final long serialVersionUID = 1L;

    LedgerUnreachableException(String message) {
      super(message);
    }
  }

  private static final int MAX_RESPONSE_BYTES = 64 * 1024 * 1024;

  private final String baseUrl;
  private final String token;
  private final HttpClient http;
  private final Duration timeout;

  public LedgerClient(String baseUrl, String token) {
    this(baseUrl, token, Duration.ofSeconds(30));
  }

  public LedgerClient(String baseUrl, String token, Duration timeout) {
    this.baseUrl = baseUrl.replaceAll("/+$", "");
    this.token = token;
    this.timeout = timeout;
    this.http = HttpClient.newBuilder().connectTimeout(timeout).build();
  }

  @Override
  public String toString() { // never print the token
    return "LedgerClient(" + baseUrl + ")";
  }

  /** Appends signed envelopes, all or nothing; one result per event (stream, revision, position, digest, duplicate). */
  public List<Object> append(List<Map<String, Object>> envelopes) throws LedgerException, LedgerUnreachableException {
    return append(envelopes, "/v1/events");
  }

  public List<Object> appendAdmin(List<Map<String, Object>> envelopes) throws LedgerException, LedgerUnreachableException {
    return append(envelopes, "/v1/admin/events");
  }

  private List<Object> append(List<Map<String, Object>> envelopes, String path) throws LedgerException, LedgerUnreachableException {
    return Json.array(requestJson("POST", path, Json.obj("events", envelopes)).get("events"), "events");
  }

  /** {@code [revision, digest]} of a stream's last event; {@code [-1, null]} for a stream with no events yet. */
  public Object[] streamHead(String stream) throws LedgerException, LedgerUnreachableException {
    Map<String, Object> head = requestJson("GET", "/v1/streams/" + encode(stream) + "/head", null);
    return new Object[] {Json.integer(head.get("revision"), "revision"), head.get("digest")};
  }

  public Map<String, Object> unit(String serial) throws LedgerException, LedgerUnreachableException {
    return requestJson("GET", "/v1/units/" + encode(serial), null);
  }

  public Map<String, Object> provenance(String serial) throws LedgerException, LedgerUnreachableException {
    return requestJson("GET", "/v1/units/" + encode(serial) + "/provenance", null);
  }

  /** The unit's signed history in stream order: {@code events: [{position, revision, digest, event, envelope}]}. */
  public Map<String, Object> unitEvents(String serial) throws LedgerException, LedgerUnreachableException {
    return requestJson("GET", "/v1/units/" + encode(serial) + "/events", null);
  }

  /** A station's registration and keys ({keyId, publicKey, registeredAt, revokedAt}), with its signed history. */
  public Map<String, Object> station(String stationId) throws LedgerException, LedgerUnreachableException {
    return requestJson("GET", "/v1/stations/" + encode(stationId), null);
  }

  public Map<String, Object> batch(String batchId) throws LedgerException, LedgerUnreachableException {
    return requestJson("GET", "/v1/batches/" + encode(batchId), null);
  }

  public Map<String, Object> release(String releaseId) throws LedgerException, LedgerUnreachableException {
    return requestJson("GET", "/v1/releases/" + encode(releaseId), null);
  }

  /** The verifier key the ledger serves. Pin your own copy for audits: a server can lie about itself. */
  public String ledgerKey() throws LedgerException, LedgerUnreachableException {
    return request("GET", "/v1/ledger/key", null).trim();
  }

  public Map<String, Object> requestJson(String method, String path, Object body) throws LedgerException, LedgerUnreachableException {
    String text = request(method, path, body);
    try {
      return Json.object(Json.parse(text), "the answer");
    } catch (Json.ParseException | IllegalArgumentException e) {
      throw new LedgerException(0, Json.obj("code", "HTTP_ERROR", "detail", method + " " + path + ": the answer is not a JSON object"));
    }
  }

  public String request(String method, String path, Object body) throws LedgerException, LedgerUnreachableException {
    HttpRequest.Builder builder = HttpRequest.newBuilder(URI.create(baseUrl + path))
        .timeout(timeout)
        .header("Authorization", "Bearer " + token)
        .header("Accept", "application/json, application/problem+json, text/plain");
    if (body == null) builder.method(method, HttpRequest.BodyPublishers.noBody());
    else builder.header("Content-Type", "application/json").method(method, HttpRequest.BodyPublishers.ofString(Jcs.canonicalize(body), StandardCharsets.UTF_8));
    HttpResponse<InputStream> response;
    byte[] bytes;
    try {
      response = http.send(builder.build(), HttpResponse.BodyHandlers.ofInputStream());
      try (InputStream in = response.body()) {
        bytes = in.readNBytes(MAX_RESPONSE_BYTES + 1); // bounded: a hostile answer cannot exhaust memory
      }
    } catch (ConnectException e) {
      throw new LedgerUnreachableException("cannot reach the ledger at " + baseUrl + ": connection refused");
    } catch (HttpTimeoutException e) {
      throw new LedgerUnreachableException("cannot reach the ledger at " + baseUrl + ": timed out");
    } catch (IOException e) {
      throw new LedgerUnreachableException("cannot reach the ledger at " + baseUrl + ": " + e);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new LedgerUnreachableException("interrupted while talking to the ledger at " + baseUrl);
    }
    if (bytes.length > MAX_RESPONSE_BYTES) throw new LedgerException(0, Json.obj("code", "HTTP_ERROR", "detail", "the answer is larger than " + MAX_RESPONSE_BYTES + " bytes"));
    String text = new String(bytes, StandardCharsets.UTF_8);
    if (response.statusCode() >= 400) {
      Map<String, Object> problem;
      try {
        problem = Json.object(Json.parse(text), "problem");
      } catch (Json.ParseException | IllegalArgumentException e) {
        problem = Json.obj("type", "about:blank", "status", response.statusCode(), "detail", text.substring(0, Math.min(500, text.length())), "code", "HTTP_ERROR");
      }
      throw new LedgerException(response.statusCode(), problem);
    }
    return text;
  }

  private static String encode(String segment) {
    return URLEncoder.encode(segment, StandardCharsets.UTF_8).replace("+", "%20");
  }
}
