import { escapeHtml, splitMessage } from '../../../src/telegram/html.js';

describe('Telegram HTML', () => {
  test('when a name has HTML characters, then each is escaped', () => {
    expect(escapeHtml('<Ёлка & "Ко">')).toBe('&lt;Ёлка &amp; &quot;Ко&quot;&gt;');
    expect(escapeHtml(undefined)).toBe('');
  });

  test('when text fits, then it is one part, unchanged', () => {
    expect(splitMessage('a\nb', 4096)).toEqual(['a\nb']);
  });

  test('when lines do not fit together, then parts break between lines and each fits', () => {
    // Lines of 10 characters, limit 25: two lines and their newline make 21, three make 32.
    const lines = ['0123456789', 'abcdefghij', 'ABCDEFGHIJ', 'klmnopqrst', 'KLMNOPQRST'];
    expect(splitMessage(lines.join('\n'), 25)).toEqual([
      '0123456789\nabcdefghij',
      'ABCDEFGHIJ\nklmnopqrst',
      'KLMNOPQRST',
    ]);
  });

  test('when one line is longer than the limit, then it is cut outside tags and entities, tags closed and reopened', () => {
    const line = `<b>${'слово '.repeat(10)}&amp; ${'ещё '.repeat(10)}</b>`;
    const parts = splitMessage(line, 40);
    expect(parts.length).toBeGreaterThan(1);
    for (const p of parts) {
      expect(p.length).toBeLessThanOrEqual(40 + '<b></b>'.length);
      expect(p.startsWith('<b>')).toBe(true);
      expect(p.endsWith('</b>')).toBe(true);
      expect(p).not.toMatch(/&[a-z]*$/); // no entity cut at the end
      expect(p.replace(/<\/?b>/g, '')).not.toMatch(/[<>]/); // no tag cut in half
    }
    expect(
      parts
        .map((p) => p.replace(/<\/?b>/g, ''))
        .join(' ')
        .replace(/\s+/g, ' ')
        .trim(),
    ).toBe(
      line
        .replace(/<\/?b>/g, '')
        .replace(/\s+/g, ' ')
        .trim(),
    );
  });
});
