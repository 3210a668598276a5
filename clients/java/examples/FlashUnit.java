import dev.flashtrail.client.Ed25519;
import dev.flashtrail.client.Events;
import dev.flashtrail.client.Hex;
import dev.flashtrail.client.Json;
import dev.flashtrail.client.KeyFile;
import dev.flashtrail.client.LedgerClient;
import dev.flashtrail.client.Provenance;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Signs and appends one unit's whole flow to a flashtrail ledger, then verifies what the ledger holds;
 * the Java twin of clients/python/examples/flash_unit.py, with the same options.
 *
 * <ol>
 *   <li>reads the batch and its approved release from the ledger, and refuses images that are not the release's;
 *   <li>continues the unit's hash chain from the ledger's stream head (so a rework or a restart chains correctly);
 *   <li>signs each step with the station key and appends it as it happens, checking that the ledger stored
 *       exactly the bytes signed: UnitScanned → BootloaderWritten → AppVerified → ProvisioningApplied →
 *       EfuseBurned → UnitShipped (with --rework REASON the flow starts with UnitReworked instead of a scan);
 *   <li>reads back the unit's stream and re-verifies it: strict decoding, signatures, the prev chain;
 *   <li>with an auditor token (a station token may not read provenance), fetches the unit's provenance
 *       document and verifies it offline against the pinned ledger key.
 * </ol>
 *
 * Exit status: 0 shipped and verified, 1 refused or failed (one line on stderr), 2 usage.
 */
public final class FlashUnit {
  private static final Set<String> REQUIRED = Set.of("url", "token-file", "key", "station", "batch", "serial", "bootloader", "application", "reported-sha256",
      "provisioning-template", "provisioning-config", "customer", "order");
  private static final Set<String> OPTIONAL = Set.of("operator", "hardware-revision", "bootloader-version", "signing-key-ref", "template-id", "rework", "auditor-token-file", "ledger-key");

  /** A reason to stop this unit, said in one line. */
  static final class Refused extends Exception {
    private static final long serialVersionUID = 1L;

    Refused(String message) {
      super(message);
    }
  }

  public static void main(String[] argv) {
    // The console's default charset may be ASCII (a C locale): print UTF-8 whatever it is.
    System.setOut(new PrintStream(new FileOutputStream(FileDescriptor.out), true, StandardCharsets.UTF_8));
    System.setErr(new PrintStream(new FileOutputStream(FileDescriptor.err), true, StandardCharsets.UTF_8));
    Map<String, String> args = new HashMap<>();
    List<Object> fuses = new ArrayList<>();
    for (int i = 0; i < argv.length; i++) {
      String name = argv[i].startsWith("--") ? argv[i].substring(2) : null;
      if (name == null || i + 1 >= argv.length || !(REQUIRED.contains(name) || OPTIONAL.contains(name) || name.equals("fuse"))) usage("unknown or incomplete option " + argv[i]);
      String value = argv[++i];
      if (name.equals("fuse")) {
        int eq = value.indexOf('=');
        if (eq <= 0) usage("--fuse expects NAME=VALUE, got " + value);
        fuses.add(Json.obj("name", value.substring(0, eq), "value", value.substring(eq + 1)));
      } else {
        args.put(name, value);
      }
    }
    for (String name : REQUIRED) if (!args.containsKey(name)) usage("--" + name + " is required");
    if (fuses.isEmpty()) usage("--fuse NAME=VALUE is required (once per eFuse burned)");
    String serial = args.get("serial");
    try {
      System.exit(flash(args, fuses));
    } catch (Refused e) {
      System.err.println(serial + ": " + e.getMessage());
    } catch (LedgerClient.LedgerException e) {
      System.err.println(serial + ": the ledger refused: " + e.getMessage());
    } catch (LedgerClient.LedgerUnreachableException | KeyFile.KeyFileException e) {
      System.err.println(serial + ": " + e.getMessage());
    } catch (Provenance.VerificationException e) {
      System.err.println(serial + ": verification FAILED at " + e.step + ": " + e.code + ": " + e.getMessage());
    } catch (NoSuchFileException e) {
      System.err.println(serial + ": " + e.getFile() + ": no such file");
    } catch (IOException | GeneralSecurityException | IllegalArgumentException e) {
      System.err.println(serial + ": " + e.getMessage());
    }
    System.exit(1);
  }

  private static void usage(String problem) {
    System.err.println(problem);
    System.err.println("usage: java -cp build/classes FlashUnit --url URL --token-file FILE --key FILE --station ID --batch ID --serial SN");
    System.err.println("         --bootloader IMAGE --application IMAGE --reported-sha256 HEX --provisioning-template FILE --provisioning-config FILE");
    System.err.println("         --fuse NAME=VALUE [--fuse …] --customer C --order REF [--operator O] [--hardware-revision R] [--bootloader-version V]");
    System.err.println("         [--signing-key-ref REF] [--template-id ID] [--rework REASON] [--auditor-token-file FILE [--ledger-key KEY|@FILE]]");
    System.exit(2);
  }

  private static Object[] fileDigest(String path) throws IOException, GeneralSecurityException {
    MessageDigest sha = MessageDigest.getInstance("SHA-256");
    long size = 0;
    try (InputStream in = Files.newInputStream(Path.of(path))) {
      byte[] buffer = new byte[1 << 20];
      for (int n; (n = in.read(buffer)) > 0; size += n) sha.update(buffer, 0, n);
    }
    StringBuilder hex = new StringBuilder();
    for (byte b : sha.digest()) hex.append(String.format("%02x", b));
    return new Object[] {hex.toString(), size};
  }

  static int flash(Map<String, String> args, List<Object> fuses)
      throws Refused, IOException, GeneralSecurityException, KeyFile.KeyFileException, LedgerClient.LedgerException, LedgerClient.LedgerUnreachableException, Provenance.VerificationException {
    Ed25519.SigningKey key = KeyFile.read(Path.of(args.get("key")));
    String token = Files.readString(Path.of(args.get("token-file")), StandardCharsets.UTF_8).strip();
    LedgerClient ledger = new LedgerClient(args.get("url"), token);
    String serial = args.get("serial");
    String station = args.get("station");

    // 1. What the line is meant to flash: the batch's approved release, as the ledger recorded it.
    Map<String, Object> batch = ledger.batch(args.get("batch"));
    if (!"open".equals(batch.get("status"))) throw new Refused("batch " + args.get("batch") + " is " + batch.get("status"));
    String releaseId = (String) Json.object(batch.get("batch"), "batch").get("releaseId");
    Map<String, Object> release = Json.object(ledger.release(releaseId).get("release"), "release");
    Object[] bootloader = fileDigest(args.get("bootloader"));
    Object[] application = fileDigest(args.get("application"));
    Object[] template = fileDigest(args.get("provisioning-template"));
    Object[] config = fileDigest(args.get("provisioning-config"));
    String[][] checks = {{"bootloader", (String) bootloader[0], (String) release.get("bootloaderSha256")},
        {"application", (String) application[0], (String) release.get("applicationSha256")},
        {"provisioning template", (String) template[0], (String) release.get("provisioningTemplateSha256")}};
    for (String[] c : checks) {
      if (!c[1].equals(c[2])) throw new Refused("the " + c[0] + " image hashes to " + c[1].substring(0, 12) + "…, not release " + releaseId + "'s " + c[2].substring(0, 12) + "…");
    }

    // 2. Continue the unit's chain from the ledger's head (null for a new unit).
    Events.EventSigner signer = new Events.EventSigner(key, station);
    String stream = "unit-" + serial;
    Object[] head = ledger.streamHead(stream);
    signer.setHead(stream, (String) head[1]);
    System.out.println(stream + ": " + (head[1] == null ? "new" : "head at revision " + head[0] + ", " + ((String) head[1]).substring(0, 12) + "…"));

    // 3. The flow, each step signed and appended when it happens.
    Recorder record = (type, data) -> {
      Events.SignedEvent signed = signer.sign(type, data);
      Map<String, Object> appended = Json.object(ledger.append(List.of(signed.envelope)).get(0), "appended event");
      if (!signed.digest.equals(appended.get("digest"))) throw new Refused("the ledger stored " + type + " as " + appended.get("digest") + ", not the envelope signed (" + signed.digest + ")");
      System.out.printf("  %-20s revision %-3d position %-5d %s…%n", type, Json.integer(appended.get("revision"), "revision"), Json.integer(appended.get("position"), "position"), signed.digest.substring(0, 16));
    };
    if (args.containsKey("rework")) {
      record.step("UnitReworked", Json.obj("serial", serial, "reason", args.get("rework")));
    } else {
      record.step("UnitScanned", Json.obj("serial", serial, "batchId", args.get("batch"), "station", station, "operator", args.getOrDefault("operator", System.getProperty("user.name", "operator")),
          "productSku", release.get("productSku"), "hardwareRevision", args.getOrDefault("hardware-revision", "rev-A")));
    }
    record.step("BootloaderWritten", Json.obj("serial", serial, "imageSha256", bootloader[0], "version", args.getOrDefault("bootloader-version", (String) release.get("version")),
        "sizeBytes", bootloader[1], "signingKeyRef", args.getOrDefault("signing-key-ref", "secure-boot-key"), "signingKeyDigest", release.get("signingKeyDigest")));
    String reported = args.get("reported-sha256").toLowerCase();
    boolean verified = reported.equals(application[0]);
    record.step("AppVerified", Json.obj("serial", serial, "imageSha256", application[0], "version", release.get("version"), "sizeBytes", application[1],
        "reportedSha256", reported, "method", "device_report", "result", verified ? "pass" : "fail"));
    if (!verified) throw new Refused("app verification FAILED: the device runs " + reported.substring(0, Math.min(12, reported.length())) + "…, not the image written (" + ((String) application[0]).substring(0, 12) + "…); rework the unit");
    String templateFile = Path.of(args.get("provisioning-template")).getFileName().toString();
    String templateId = args.getOrDefault("template-id", templateFile.contains(".") ? templateFile.substring(0, templateFile.lastIndexOf('.')) : templateFile);
    record.step("ProvisioningApplied", Json.obj("serial", serial, "templateId", templateId, "templateSha256", template[0], "configSha256", config[0]));
    Map<String, String> fuseValues = new HashMap<>();
    for (Object f : fuses) fuseValues.put((String) Json.object(f, "fuse").get("name"), (String) Json.object(f, "fuse").get("value"));
    // ESP32 semantics: secure boot is on when SECURE_BOOT_EN is 1; flash encryption when SPI_BOOT_CRYPT_CNT has an odd number of bits set.
    boolean secureBoot = "1".equals(fuseValues.get("SECURE_BOOT_EN"));
    boolean flashEncryption = Long.bitCount(Long.decode(fuseValues.getOrDefault("SPI_BOOT_CRYPT_CNT", "0"))) % 2 == 1;
    record.step("EfuseBurned", Json.obj("serial", serial, "profile", release.get("efuseProfile"), "fuses", fuses, "keyDigests", List.of(release.get("signingKeyDigest")),
        "secureBoot", secureBoot, "flashEncryption", flashEncryption));
    record.step("UnitShipped", Json.obj("serial", serial, "customer", args.get("customer"), "orderRef", args.get("order")));

    // 4. Read back the unit's stream and re-verify it: strict decoding, signatures, the prev chain, our bytes.
    Map<String, Map<String, byte[]>> stationKeys = new HashMap<>();
    stationKeys.put(station, Map.of(key.keyId(), key.publicKey()));
    Provenance.KeyLookup keys = (keyId, event) -> {
      String source = (String) Json.object(event.get("source"), "source").get("id");
      if (!stationKeys.containsKey(source)) { // another station worked on this unit: ask the ledger for its keys
        Map<String, byte[]> known = new HashMap<>();
        for (Object k : Json.array(ledger.station(source).get("keys"), "keys")) known.put((String) Json.object(k, "key").get("keyId"), Hex.decode((String) Json.object(k, "key").get("publicKey")));
        stationKeys.put(source, known);
      }
      return stationKeys.get(source).get(keyId);
    };
    List<Object> history = Json.array(ledger.unitEvents(serial).get("events"), "events");
    List<Object> envelopes = new ArrayList<>();
    for (Object h : history) envelopes.add(Json.object(h, "event").get("envelope"));
    List<Events.DecodedEvent> chain = Provenance.verifyChain(envelopes, keys);
    for (int i = 0; i < chain.size(); i++) {
      Object stored = Json.object(history.get(i), "event").get("digest");
      if (!chain.get(i).digest.equals(stored)) throw new Refused("the ledger reports " + stored + " for the envelope hashing to " + chain.get(i).digest);
    }
    System.out.println("  ok  chain      " + chain.size() + " events of " + serial + ": signatures valid (RFC 8032 strict), hash chain unbroken, stored as signed");
    if (!args.containsKey("auditor-token-file")) {
      System.out.println(serial + " shipped: " + chain.size() + " events in the chain");
      return 0;
    }

    // 5. Verify the provenance document offline, trusting only the pinned ledger key.
    LedgerClient auditor = new LedgerClient(args.get("url"), Files.readString(Path.of(args.get("auditor-token-file")), StandardCharsets.UTF_8).strip());
    String keyText = args.get("ledger-key");
    if (keyText == null) {
      keyText = auditor.ledgerKey();
      System.out.println("  (verifying against the key the ledger serves; pin it with --ledger-key for an audit)");
    } else if (keyText.startsWith("@")) {
      keyText = Files.readString(Path.of(keyText.substring(1)), StandardCharsets.UTF_8);
    }
    Provenance.Report report = Provenance.verify(auditor.provenance(serial), Provenance.parseVerifierKey(keyText));
    for (String[] step : report.steps) System.out.printf("  ok  %-11s%s%n", step[0], step[1]);
    System.out.println(serial + " shipped: " + report.events + " events in the chain; provenance verified offline against " + report.checkpoint.origin + " size " + report.checkpoint.size);
    return 0;
  }

  @FunctionalInterface
  interface Recorder {
    void step(String type, Map<String, Object> data) throws Refused, GeneralSecurityException, LedgerClient.LedgerException, LedgerClient.LedgerUnreachableException;
  }
}
