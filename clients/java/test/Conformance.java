import dev.flashtrail.client.Ed25519;
import dev.flashtrail.client.Hex;
import dev.flashtrail.client.Jcs;
import dev.flashtrail.client.Json;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Answers a conformance request from test/clients.int.test.ts, which holds the answers to the ledger's
 * own (see clients/python/tests/conformance.py for the request's members).
 *
 * <pre>java -cp build/classes Conformance REQUEST.json</pre>
 */
public final class Conformance {
  public static void main(String[] args) throws Exception {
    Map<String, Object> request = Json.object(Json.parse(Files.readString(Path.of(args[0]), StandardCharsets.UTF_8)), "request");
    List<Object> numbers = new ArrayList<>();
    for (Object h : Json.array(request.get("numbers"), "numbers")) {
      double x = Double.longBitsToDouble(Long.parseUnsignedLong((String) h, 16));
      numbers.add(orNull(() -> Jcs.canonicalize(x)));
    }
    List<Object> texts = new ArrayList<>();
    for (Object t : Json.array(request.get("canonicalize"), "canonicalize")) texts.add(orNull(() -> Jcs.canonicalize(Json.parse((String) t))));
    List<Object> keys = new ArrayList<>();
    for (Object k : Json.array(request.get("publicKeys"), "publicKeys")) keys.add(Ed25519.isAcceptablePublicKey(Hex.decode((String) k)));
    List<Object> verdicts = new ArrayList<>();
    for (Object o : Json.array(request.get("signatures"), "signatures")) {
      Map<String, Object> s = Json.object(o, "signature");
      verdicts.add(Ed25519.verify(Hex.decode((String) s.get("signature")), Hex.decode((String) s.get("message")), Hex.decode((String) s.get("publicKey"))));
    }
    List<Object> publicKeys = new ArrayList<>();
    for (Object seed : Json.array(request.get("seeds"), "seeds")) publicKeys.add(Hex.encode(Ed25519.publicKeyOf(Hex.decode((String) seed))));
    PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
    out.print(Jcs.canonicalize(Json.obj("numbers", numbers, "canonicalize", texts, "publicKeys", keys, "signatures", verdicts, "seeds", publicKeys)));
  }

  interface Thunk {
    String get() throws Exception;
  }

  private static String orNull(Thunk thunk) {
    try {
      return thunk.get();
    } catch (Exception e) {
      return null;
    }
  }
}
