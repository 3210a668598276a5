package dev.flashtrail.client;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.GeneralSecurityException;
import java.util.Map;
import java.util.Set;

/**
 * flashtrail's Ed25519 secret key files ({@code flashtrail-ed25519-secret-key-v1}), readable by
 * {@code flashtrail} itself. Written with mode 0600, durably (the file and its directory are forced to
 * disk), never over an existing file; a file that anyone but its owner can read is refused, as ssh does,
 * because a leaked station key lets anyone forge that station's history.
 */
public final class KeyFile {
  private KeyFile() {}

  public static final String SECRET_KEY_FILE_TYPE = "flashtrail-ed25519-secret-key-v1";

  /** A key file that cannot be used; the message names the file and what to do. */
  public static final class KeyFileException extends Exception {
    private static final long serialVersionUID = 1L;

    KeyFileException(String message) {
      super(message);
    }
  }

  private static final boolean POSIX = Path.of(".").getFileSystem().supportedFileAttributeViews().contains("posix");

  public static void write(Path path, Ed25519.SigningKey key, String comment) throws IOException, KeyFileException {
    String q = "\"";
    StringBuilder body = new StringBuilder("{\n");
    body.append("  \"type\": \"").append(SECRET_KEY_FILE_TYPE).append(q).append(",\n");
    body.append("  \"keyId\": \"").append(key.keyId()).append(q).append(",\n");
    body.append("  \"publicKey\": \"").append(Hex.encode(key.publicKey())).append(q).append(",\n");
    body.append("  \"secretKey\": \"").append(Hex.encode(key.secretKey())).append(q);
    if (comment != null && !comment.isEmpty()) body.append(",\n  \"comment\": ").append(Jcs.canonicalize(comment));
    body.append("\n}\n");
    try {
      if (POSIX) Files.createFile(path, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rw-------")));
      else Files.createFile(path);
    } catch (FileAlreadyExistsException e) {
      throw new KeyFileException(path + " already exists; refusing to overwrite a key");
    }
    if (POSIX) Files.setPosixFilePermissions(path, PosixFilePermissions.fromString("rw-------")); // whatever the umask
    try (FileChannel channel = FileChannel.open(path, StandardOpenOption.WRITE)) {
      ByteBuffer bytes = ByteBuffer.wrap(body.toString().getBytes(StandardCharsets.UTF_8));
      while (bytes.hasRemaining()) channel.write(bytes);
      channel.force(true);
    }
    if (POSIX) {
      try (FileChannel dir = FileChannel.open(path.toAbsolutePath().getParent(), StandardOpenOption.READ)) {
        dir.force(true);
      }
    }
  }

  public static Ed25519.SigningKey read(Path path) throws IOException, KeyFileException {
    if (POSIX) {
      Set<PosixFilePermission> perms;
      try {
        perms = Files.getPosixFilePermissions(path);
      } catch (NoSuchFileException e) {
        throw new KeyFileException("key file " + path + " does not exist");
      }
      for (PosixFilePermission p : perms) {
        if (p.name().startsWith("GROUP") || p.name().startsWith("OTHERS")) {
          throw new KeyFileException("key file " + path + " has mode " + PosixFilePermissions.toString(perms) + "; it must be readable by its owner only (chmod 600 " + path + ")");
        }
      }
    } else if (!Files.exists(path)) {
      throw new KeyFileException("key file " + path + " does not exist");
    }
    String damaged = "key file " + path + " is empty or damaged (not a " + SECRET_KEY_FILE_TYPE + " file): restore it from your backup";
    Map<String, Object> body;
    try {
      if (Files.size(path) > 64 * 1024) throw new KeyFileException(damaged);
      body = Json.object(Json.parse(Json.utf8(Files.readAllBytes(path))), "key file");
    } catch (Json.ParseException | IllegalArgumentException | java.nio.charset.CharacterCodingException e) {
      throw new KeyFileException(damaged);
    }
    if (!SECRET_KEY_FILE_TYPE.equals(body.get("type")) || !Set.of("type", "keyId", "publicKey", "secretKey", "comment").containsAll(body.keySet())) throw new KeyFileException(damaged);
    for (String name : new String[] {"keyId", "publicKey", "secretKey"}) {
      if (!(body.get(name) instanceof String) || !Events.HEX64.matcher((String) body.get(name)).matches()) throw new KeyFileException(damaged);
    }
    Ed25519.SigningKey key;
    try {
      key = Ed25519.SigningKey.fromSeed(Hex.decode((String) body.get("secretKey")));
    } catch (GeneralSecurityException e) {
      throw new KeyFileException("key file " + path + ": " + e.getMessage());
    }
    if (!Hex.encode(key.publicKey()).equals(body.get("publicKey")) || !key.keyId().equals(body.get("keyId"))) {
      throw new KeyFileException("key file " + path + " is inconsistent: its public key does not match its secret key");
    }
    return key;
  }
}
