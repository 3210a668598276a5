export async function buildVerifierPage() {}
