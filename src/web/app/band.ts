/** How a batch's scrap rate compares with the reference the dashboard shows. */

/** The seed's reference band: production-side flashing below 0.5 %, field flashing 1–4 %. */
export function scrapBand(rate: number): string {
  if (rate < 0.005) return 'within the production-side reference (below 0.5 %)';
  if (rate <= 0.04) return rate >= 0.01 ? 'above the production-side reference (0.5 %), within the field-flashing band (1–4 %)' : 'above the production-side reference (0.5 %), below the field-flashing band';
  return 'above both reference bands (production-side below 0.5 %, field flashing 1–4 %)';
}
