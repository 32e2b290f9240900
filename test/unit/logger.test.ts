import { Writable } from 'node:stream';
import { describe, expect, it } from '@jest/globals';
import { pino } from 'pino';
import { REDACT_PATHS, scrubUrl } from '../../src/lib/logger.js';

describe('logs never carry secrets', () => {
  it('when a webhook URL is logged, then its token is scrubbed', () => {
    expect(scrubUrl('/webhooks/amocrm/s3cr3t-token-value-1234567890')).toBe('/webhooks/amocrm/[redacted]');
    expect(scrubUrl('/oauth/callback?code=abc&state=1')).toBe('/oauth/callback?code=[redacted]&state=1');
  });

  it('when an object with tokens is logged, then they are redacted', () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _enc, done) {
        lines.push(String(chunk));
        done();
      },
    });
    const log = pino({ redact: { paths: REDACT_PATHS, censor: '[redacted]' } }, sink);
    log.info({ accessToken: 'AAA', tokens: { refresh_token: 'BBB' }, headers: { authorization: 'Bearer CCC' } }, 'x');
    expect(lines.join('')).not.toMatch(/AAA|BBB|CCC/);
  });
});
