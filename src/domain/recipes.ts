/**
 * The recipes flashtrail ships: the step sequences of three real production flows. A release fills in its
 * own digests (the secure-boot key, the provisioning template); `flashtrail station release` builds a
 * ReleaseApproved from one of these and the image files, and the simulator and the demo use them too.
 *
 *  esp32s3-sbv2-fe-host  ESP32-S3, Secure Boot v2 + flash encryption enabled from the host, in the order of
 *                        Espressif's "Security Features Enablement Workflows": flash encryption key and its
 *                        eFuses first, then the Secure Boot v2 key digest and its eFuses, the eFuses read back,
 *                        then the signed and encrypted images, read back and booted, and Secure Download Mode
 *                        (ENABLE_SECURITY_DOWNLOAD) burned last. The seed's principle, visible: the chain of
 *                        trust is anchored in eFuse before anything is flashed, the application is verified
 *                        by hash (read back, and the ELF hash it prints at boot), and the eFuse that shuts the
 *                        door comes last.
 *  esp32-dev             ESP32 on a development line: no secure boot, no flash encryption, no lock; the images
 *                        compared by esptool verify-flash, the boot log checked, and the eFuses read to show
 *                        that nothing was enabled.
 *  lpc55s69-sb21         NXP LPC55S69 with only its ROM bootloader (blhost over UART): the PUF key store
 *                        enrolled with the SB key (SBKEK), the signed application delivered in an SB2.1
 *                        container (receive-sb-file), read back, and the CMPA page sealed last.
 */
import type { Recipe } from '../../schemas/index.ts';

export interface SecureRecipeParams {
  /** SHA-256 digest of the Secure Boot v2 public key, as `espsecure digest-sbv2-public-key` writes it. */
  readonly secureBootKeyDigest: string;
  readonly templateId: string;
  readonly templateSha256: string;
}

/** The eFuses Espressif's workflow burns for host-enabled flash encryption on ESP32-S3 (value 0x1 each, CRYPT_CNT 7: release mode). */
const S3_FLASH_ENCRYPTION_FUSES = [
  { name: 'SPI_BOOT_CRYPT_CNT', value: '7' },
  { name: 'DIS_DOWNLOAD_ICACHE', value: '1' },
  { name: 'DIS_DOWNLOAD_DCACHE', value: '1' },
  { name: 'DIS_PAD_JTAG', value: '1' },
  { name: 'DIS_DIRECT_BOOT', value: '1' },
  { name: 'DIS_USB_JTAG', value: '1' },
  { name: 'DIS_DOWNLOAD_MANUAL_ENCRYPT', value: '1' },
];
const S3_SECURE_BOOT_FUSES = [
  { name: 'SECURE_BOOT_EN', value: '1' },
  { name: 'SOFT_DIS_JTAG', value: '7' },
  { name: 'SECURE_BOOT_AGGRESSIVE_REVOKE', value: '1' },
  { name: 'SECURE_BOOT_KEY_REVOKE1', value: '1' },
  { name: 'SECURE_BOOT_KEY_REVOKE2', value: '1' },
];

export function esp32s3HostSecureRecipe(p: SecureRecipeParams): Recipe {
  return {
    id: 'esp32s3-sbv2-fe-host',
    target: 'esp32s3',
    limits: { maxAttempts: 3, maxFailuresPerAttempt: 6 },
    steps: [
      { id: 'read-mac', kind: 'identity', description: 'esptool chip-id: chip type, revision and MAC (ESP32-S3 has no chip ID register)' },
      { id: 'read-unique-id', kind: 'identity', description: 'espefuse summary --format json: OPTIONAL_UNIQUE_ID, the chip id recorded for the unit' },
      {
        id: 'burn-flash-encryption',
        kind: 'burn',
        description: 'espefuse burn-key BLOCK_KEY0 (XTS_AES_128_KEY), burn-efuse SPI_BOOT_CRYPT_CNT 7 and the flash encryption security eFuses, write-protect-efuse DIS_ICACHE',
        keys: [{ block: 'BLOCK_KEY0', purpose: 'XTS_AES_128_KEY' }],
        fuses: S3_FLASH_ENCRYPTION_FUSES,
      },
      {
        id: 'burn-secure-boot',
        kind: 'burn',
        description: 'espefuse burn-key-digest BLOCK_KEY1 (SECURE_BOOT_DIGEST0), burn-efuse SECURE_BOOT_EN and the secure boot security eFuses, revoke unused key slots, write-protect-efuse RD_DIS',
        keys: [{ block: 'BLOCK_KEY1', purpose: 'SECURE_BOOT_DIGEST0', digest: p.secureBootKeyDigest }],
        fuses: S3_SECURE_BOOT_FUSES,
      },
      {
        id: 'read-back-efuses',
        kind: 'security_state',
        description: 'espefuse summary --format json: every eFuse burned above, as the chip reports it',
        expect: [
          { field: 'SPI_BOOT_CRYPT_CNT', equals: 'Enable' },
          { field: 'KEY_PURPOSE_0', equals: 'XTS_AES_128_KEY' },
          { field: 'BLOCK_KEY0.readable', equals: false },
          { field: 'KEY_PURPOSE_1', equals: 'SECURE_BOOT_DIGEST0' },
          { field: 'BLOCK_KEY1', equals: p.secureBootKeyDigest },
          ...[...S3_FLASH_ENCRYPTION_FUSES, ...S3_SECURE_BOOT_FUSES]
            .filter((f) => f.name !== 'SPI_BOOT_CRYPT_CNT')
            .map((f) => ({ field: f.name, equals: f.name === 'SOFT_DIS_JTAG' ? 7 : true })),
        ],
      },
      { id: 'write-images', kind: 'write', description: 'esptool write-flash --force: the signed, encrypted bootloader, partition table and application at their offsets', images: ['bootloader', 'partition-table', 'app'] },
      { id: 'read-back-images', kind: 'verify', method: 'readback_sha256', description: 'esptool read-flash of each image region, hashed by the station', images: ['bootloader', 'partition-table', 'app'] },
      { id: 'write-nvs', kind: 'provision', description: 'the unit-specific NVS partition rendered from the template, written at 0x9000', templateId: p.templateId, templateSha256: p.templateSha256 },
      { id: 'boot-log', kind: 'verify', method: 'boot_log_elf_sha256', description: 'esptool run, then the application boot log: its ELF SHA-256 prefix against the release', images: ['app'] },
      { id: 'enable-secure-download', kind: 'lock', description: 'espefuse burn-efuse ENABLE_SECURITY_DOWNLOAD: last, espefuse no longer works afterwards', fuses: [{ name: 'ENABLE_SECURITY_DOWNLOAD', value: '1' }], images: [] },
      {
        id: 'confirm-security-info',
        kind: 'security_state',
        description: 'esptool --no-stub get-security-info (allowed in Secure Download Mode)',
        expect: [
          { field: 'SECURE_DOWNLOAD_ENABLE', equals: true },
          { field: 'Secure Boot', equals: 'Enabled' },
          { field: 'Flash Encryption', equals: 'Enabled' },
          { field: 'SPI_BOOT_CRYPT_CNT', equals: '0x7' },
        ],
      },
    ],
  };
}

export function esp32DevelopmentRecipe(p: Pick<SecureRecipeParams, 'templateId' | 'templateSha256'>): Recipe {
  return {
    id: 'esp32-dev',
    target: 'esp32',
    limits: { maxAttempts: 3, maxFailuresPerAttempt: 6 },
    steps: [
      { id: 'read-mac', kind: 'identity', description: 'esptool read-mac' },
      { id: 'write-images', kind: 'write', description: 'esptool write-flash: bootloader at 0x1000, partition table, application', images: ['bootloader', 'partition-table', 'app'] },
      { id: 'verify-flash', kind: 'verify', method: 'tool_compare', description: 'esptool verify-flash against the release files', images: ['bootloader', 'partition-table', 'app'] },
      { id: 'write-nvs', kind: 'provision', templateId: p.templateId, templateSha256: p.templateSha256 },
      { id: 'boot-log', kind: 'verify', method: 'boot_log_elf_sha256', images: ['app'] },
      {
        id: 'read-efuses',
        kind: 'security_state',
        description: 'espefuse summary --format json: a development unit has neither flash encryption nor secure boot',
        expect: [
          { field: 'FLASH_CRYPT_CNT', equals: 0 },
          { field: 'ABS_DONE_1', equals: false },
        ],
      },
    ],
  };
}

export function lpc55s69Sb21Recipe(): Recipe {
  return {
    id: 'lpc55s69-sb21',
    target: 'lpc55s69',
    limits: { maxAttempts: 3, maxFailuresPerAttempt: 6 },
    steps: [
      { id: 'read-uid', kind: 'identity', description: 'blhost get-property 18: the unique device id' },
      { id: 'check-unsecure', kind: 'security_state', description: 'blhost get-property 17: not yet secured', expect: [{ field: 'Security State', equals: 'UNSECURE' }] },
      {
        id: 'provision-keystore',
        kind: 'burn',
        description: 'blhost key-provisioning enroll, set_user_key 3 (SBKEK), write_key_nonvolatile: the PUF key store that decrypts SB2.1 files',
        keys: [{ block: 'KEYSTORE', purpose: 'SBKEK' }],
        fuses: [],
      },
      { id: 'receive-sb', kind: 'write', description: 'blhost receive-sb-file: the ROM decrypts, checks and writes the signed application', images: ['firmware-sb'] },
      { id: 'read-back-app', kind: 'verify', method: 'readback_sha256', description: 'blhost read-memory of the application region, hashed by the station', images: ['app'] },
      { id: 'seal-cmpa', kind: 'lock', description: 'blhost write-memory 0x9e400: the CMPA page with secure boot enabled and its SHA-256 seal', fuses: [], images: ['cmpa'] },
      { id: 'read-back-cmpa', kind: 'verify', method: 'readback_sha256', description: 'blhost read-memory 0x9e400 512', images: ['cmpa'] },
      { id: 'check-secure', kind: 'security_state', description: 'blhost get-property 17', expect: [{ field: 'Security State', equals: 'SECURE' }] },
    ],
  };
}
