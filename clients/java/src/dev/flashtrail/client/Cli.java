package dev.flashtrail.client;

import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * {@code java -cp flashtrail-client.jar dev.flashtrail.client.Cli keygen --out FILE [--comment C]}
 * and {@code … verify-provenance FILE --ledger-key KEY|@FILE [--json]}. Exit 0 done, 1 failed, 2 usage.
 */
public final class Cli {
  private Cli() {}

  private static final String USAGE = "usage: Cli keygen --out FILE [--comment C]\n       Cli verify-provenance FILE --ledger-key KEY|@FILE [--json]";

  public static void main(String[] args) {
    // The console's default charset may be ASCII (a C locale): print UTF-8 whatever it is.
    PrintStream out = new PrintStream(new FileOutputStream(FileDescriptor.out), true, StandardCharsets.UTF_8);
    PrintStream err = new PrintStream(new FileOutputStream(FileDescriptor.err), true, StandardCharsets.UTF_8);
    System.exit(run(args, out, err));
  }

  static int run(String[] args, PrintStream out, PrintStream err) {
    if (args.length == 0) return usage(err, "no command given");
    try {
      switch (args[0]) {
        case "keygen":
          return keygen(args, out, err);
        case "verify-provenance":
          return verifyProvenance(args, out, err);
        default:
          return usage(err, "unknown command " + args[0]);
      }
    } catch (KeyFile.KeyFileException e) {
      err.println(e.getMessage());
      return 1;
    } catch (IOException e) {
      err.println(e.getClass().getSimpleName().replace("Exception", "") + ": " + e.getMessage());
      return 1;
    } catch (java.security.GeneralSecurityException e) {
      err.println("Ed25519 is not available in this JDK (JDK 15 or newer is required): " + e.getMessage());
      return 1;
    }
  }

  private static int usage(PrintStream err, String problem) {
    err.println(problem);
    err.println(USAGE);
    return 2;
  }

  private static int keygen(String[] args, PrintStream out, PrintStream err) throws IOException, KeyFile.KeyFileException, java.security.GeneralSecurityException {
    String file = null;
    String comment = null;
    for (int i = 1; i < args.length; i++) {
      if (args[i].equals("--out") && i + 1 < args.length) file = args[++i];
      else if (args[i].equals("--comment") && i + 1 < args.length) comment = args[++i];
      else return usage(err, "unknown option " + args[i]);
    }
    if (file == null) return usage(err, "keygen needs --out FILE");
    Ed25519.SigningKey key = Ed25519.SigningKey.generate();
    KeyFile.write(Path.of(file), key, comment);
    out.println("{\n  \"keyFile\": " + Jcs.canonicalize(file) + ",\n  \"keyId\": \"" + key.keyId() + "\",\n  \"publicKey\": \"" + Hex.encode(key.publicKey()) + "\",\n  \"algorithm\": \"ed25519\"\n}");
    return 0;
  }

  private static int verifyProvenance(String[] args, PrintStream out, PrintStream err) throws IOException {
    String file = null;
    String keyText = null;
    boolean json = false;
    for (int i = 1; i < args.length; i++) {
      if (args[i].equals("--ledger-key") && i + 1 < args.length) keyText = args[++i];
      else if (args[i].equals("--json")) json = true;
      else if (!args[i].startsWith("--") && file == null) file = args[i];
      else return usage(err, "unknown option " + args[i]);
    }
    if (file == null || keyText == null) return usage(err, "verify-provenance needs FILE and --ledger-key");
    if (keyText.startsWith("@")) keyText = Files.readString(Path.of(keyText.substring(1)), StandardCharsets.UTF_8);
    Provenance.NoteKey ledgerKey;
    try {
      ledgerKey = Provenance.parseVerifierKey(keyText);
    } catch (IllegalArgumentException e) {
      err.println("--ledger-key: " + e.getMessage());
      return 1;
    }
    Object doc;
    try {
      doc = Json.parse(Json.utf8(Files.readAllBytes(Path.of(file))));
    } catch (Json.ParseException | java.nio.charset.CharacterCodingException e) {
      err.println(file + " is not JSON: " + e.getMessage());
      return 1;
    }
    Provenance.Report report;
    try {
      report = Provenance.verify(doc, ledgerKey);
    } catch (Provenance.VerificationException e) {
      if (json) out.println(Jcs.canonicalize(Json.obj("ok", false, "error", Json.obj("code", e.code, "step", e.step, "message", e.getMessage(), "location", e.location))));
      else out.printf("  FAIL  %-13s%s: %s%n", e.step, e.code, e.getMessage());
      return 1;
    }
    if (json) {
      out.println(Jcs.canonicalize(Json.obj("ok", true, "report", report.toJson())));
      return 0;
    }
    out.println("verifying provenance of unit " + report.serial + " (" + file + ")");
    for (String[] step : report.steps) out.printf("  ok  %-13s%s%n", step[0], step[1]);
    StringBuilder application = new StringBuilder();
    for (String h : report.application) application.append(application.length() > 0 ? ", " : "").append(h, 0, 10).append('…');
    out.println("verified: " + report.events + " events by " + String.join(", ", report.stations) + "; application " + (application.length() > 0 ? application : "none verified")
        + "; checkpoint " + report.checkpoint.origin + " size " + report.checkpoint.size);
    return 0;
  }
}
