/**
 * The CRA library: SBOM ingestion and the TR-03183-2 report, the enriched CycloneDX rendering, component
 * matching (purl + VERS or semver ranges, CPE 2.3, name), VEX documents (CSAF 2.0, OpenVEX 0.2.0,
 * CycloneDX), their DSSE signing, the Art. 14 clock and the ENISA form content. Pure: it runs in a browser.
 */
export * from './errors.ts';
export * from './component.ts';
export * from './schema-validation.ts';
export * from './sbom.ts';
export * from './spdx2-tag-value.ts';
export * from './tr03183.ts';
export * from './enrich.ts';
export * from './purl.ts';
export * from './vers.ts';
export * from './cpe.ts';
export * from './match.ts';
export * from './vex.ts';
export * from './sign.ts';
export * from './art14.ts';
export * from './enisa.ts';
export * from './index-entries.ts';
