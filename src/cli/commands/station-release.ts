/** `flashtrail station release`: the ReleaseApproved data of a release, from a shipped recipe and the image files. */
// What the command runs is imported when it runs: its --help stays instant and loads no server code.
import { defineCommand } from '../command.ts';
import { UsageError } from '../errors.ts';

const IMAGE = /^([a-z0-9][a-z0-9._-]{0,47})=(.+?)@(0x[0-9a-fA-F]+|\d+)$/;

// Named, then exported: see defineCommand for why not `export default defineCommand(…)`.
const command = defineCommand({
  usage: ['--recipe R --id ID --sku SKU --version V --image NAME=FILE@OFFSET… [--elf NAME=FILE] [--in NAME=CONTAINER] [--secure-boot-key-digest HEX|@FILE] [--template ID=FILE] [--sbom FILE] [--out FILE]'],
  description: [
    'Hashes each image file (SHA-256, SHA-512, size), its ELF (SHA-256), the provisioning template and the SBOM,',
    'fills them into the recipe, checks the result against the ReleaseApproved schema the ledger applies, and',
    'prints it (or writes --out). Submit it with `flashtrail admin submit ReleaseApproved FILE`.',
    'Recipes: esp32s3-sbv2-fe-host, esp32-dev, lpc55s69-sb21.',
  ].join('\n'),
  options: {
    recipe: { type: 'string', value: 'R', required: true, help: 'the step sequence' },
    id: { type: 'string', value: 'ID', required: true, help: 'the release id' },
    sku: { type: 'string', value: 'SKU', required: true, help: 'the product SKU' },
    version: { type: 'string', value: 'V', required: true, help: 'the firmware version' },
    image: { type: 'string', multiple: true, value: 'NAME=FILE@OFFSET', help: 'an image and its flash offset (repeat)' },
    elf: { type: 'string', multiple: true, value: 'NAME=FILE', help: 'the ELF an image was built from (repeat)' },
    in: { type: 'string', multiple: true, value: 'NAME=CONTAINER', help: 'an image delivered inside another (an SB2.1 file)' },
    'secure-boot-key-digest': { type: 'string', value: 'HEX|@FILE', help: 'the Secure Boot v2 key digest (espsecure digest-sbv2-public-key)' },
    template: { type: 'string', value: 'ID=FILE', help: 'the provisioning template' },
    sbom: { type: 'string', value: 'FILE', help: 'the CycloneDX SBOM of the release' },
    out: { type: 'string', value: 'FILE', help: 'write the JSON here (durably) instead of stdout' },
  },
  async run({ values }) {
    const { buildRelease, SHIPPED_RECIPES } = await import('../../../station/release.ts');
    const recipe = values.recipe as string;
    if (!(SHIPPED_RECIPES as readonly string[]).includes(recipe)) throw new UsageError(`--recipe must be one of ${SHIPPED_RECIPES.join(', ')}, not ${recipe}`);
    const pairs = (list: string[] | undefined, flag: string) =>
      new Map(
        (list ?? []).map((p) => {
          const i = p.indexOf('=');
          if (i <= 0) throw new UsageError(`${flag} takes NAME=VALUE, not ${p}`);
          return [p.slice(0, i), p.slice(i + 1)] as const;
        }),
      );
    const elves = pairs(values.elf, '--elf');
    const containers = pairs(values.in, '--in');
    const images = (values.image ?? []).map((spec) => {
      const m = IMAGE.exec(spec);
      if (!m) throw new UsageError(`--image takes NAME=FILE@OFFSET (e.g. app=build/app.bin@0x10000), not ${spec}`);
      const [, name, file, offset] = m as unknown as [string, string, string, string];
      const elf = elves.get(name);
      const deliveredIn = containers.get(name);
      return { name, file, offset: Number(offset), ...(elf ? { elf } : {}), ...(deliveredIn ? { deliveredIn } : {}) };
    });
    if (images.length === 0) throw new UsageError('at least one --image is needed');
    const template = values.template === undefined ? undefined : [...pairs([values.template], '--template')].map(([id, file]) => ({ id, file }))[0];
    const data = buildRelease({
      recipe: recipe as (typeof SHIPPED_RECIPES)[number],
      releaseId: values.id as string,
      productSku: values.sku as string,
      version: values.version as string,
      images,
      ...(values['secure-boot-key-digest'] !== undefined ? { secureBootKeyDigest: values['secure-boot-key-digest'] } : {}),
      ...(template ? { template } : {}),
      ...(values.sbom !== undefined ? { sbomFile: values.sbom } : {}),
    });
    const text = JSON.stringify(data, null, 2) + '\n';
    if (values.out !== undefined) {
      const { writeFileDurable } = await import('../../files/durable.ts');
      writeFileDurable(values.out, text, { mode: 0o644 });
      console.error(`wrote ${values.out}`);
    } else process.stdout.write(text);
    return 0;
  },
});

export default command;
