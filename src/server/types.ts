/**
 * The seam between the HTTPS transport (src/server) and the admission logic.
 * The transport never decodes AdmissionReviews itself: it collects the raw body,
 * checks size and content type, and hands the bytes over.
 */

/** What the admission logic answers: an HTTP status and a JSON-serializable body. */
export interface AdmissionResult {
  status: number;
  body: unknown;
}

export interface AdmissionEndpoint {
  /**
   * Decide on one AdmissionReview. Must not throw (implementations catch
   * internally and fail open); the transport guards anyway and fails open.
   */
  review(body: Buffer, contentType: string | undefined): AdmissionResult;
}

export interface Readiness {
  ready(): boolean;
  /** Why not ready (shown by /readyz); may be '' when ready. */
  reason(): string;
}
