/**
 * `dl`: the Content-Disposition that makes a browser save the image. An empty `dl=` uses the last
 * segment of the image path, as imgix uses the original's file name.
 */
export function contentDisposition(dl: string, imagePath: string): string {
  const name = dl || lastSegment(imagePath) || 'download';
  const ascii = name.replace(/[^\x20-\x7e]|["\\]/g, '_').replace(/[/]/g, '_') || 'download';
  return `attachment; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(name).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)}`;
}

/** The decoded last segment of a URL path. */
function lastSegment(path: string): string {
  const seg = path.split('/').filter(Boolean).pop() ?? '';
  try {
    return decodeURIComponent(seg);
  } catch {
    return seg;
  }
}
