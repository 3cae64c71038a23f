"""Every geometric threshold of the PDF parser, in one place.

Lengths in points (1/72 inch) unless named `*_EM` (a share of the font size) or `*_SHARE`
(a share of a page or region). Each value was measured on the 54 eval PDFs; the comment
says what it separates.
"""

# ---------------------------------------------------------------- glyphs and spacing
# A gap between two glyphs wider than the line's usual glyph gap by this share of the font
# size is a word space. Gaps without a space cluster at 0.00 ± 0.05 em, gaps where the PDF
# does write a space start at 0.15 em.
WORD_GAP_EM = 0.15
# A glyph printed again within this share of the size (and half its width) is a shadow or
# fake-bold overprint.
OVERPRINT_EM = 0.3
# Inside a line, a gap this wide (em) separates table cells or columns, not words.
CELL_GAP_EM = 1.6
NUMBER_GAP_EM = 0.6  # ... or this wide between two numbers (narrow columns of figures)

# ---------------------------------------------------------------- page furniture
MARGIN_SHARE = 0.1  # top/bottom share of the page where running headers and footers live
REPEAT_SHARE = 0.3  # a header/footer recurs on at least this share of pages (and on 2+)
REPEAT_TOLERANCE = 4.0  # points of vertical drift allowed between repeats

# ---------------------------------------------------------------- page status
GARBLED_SHARE = 0.3  # share of broken glyphs above which a page's text layer is garbled
SCAN_MAX_CHARS = 10  # "almost no text": fewer non-space chars than this
SCAN_MIN_COVER = 0.5  # share of the page covered by images on a scanned page
OUTLINE_PATHS = 30  # vector paths on a text-less page whose text was drawn as outlines

# ---------------------------------------------------------------- headings, items
HEADING_SCALE = 1.15  # a heading's font is this much larger than the body's
HEADING_MAX_CHARS = 80
HEADING_MAX_LINES = 3

# ---------------------------------------------------------------- paragraphs
SIZE_TOLERANCE = 0.6  # points: lines of one paragraph share their font size
# The next line follows at line spacing when its pitch (centre to centre) is at most the
# page's usual pitch for that font plus this share of the size (paragraph spacing is larger);
# with no usual pitch known, at most MAX_LINE_PITCH_EM of the size.
PARA_GAP_EM = 0.45
MAX_LINE_PITCH_EM = 2.8
FULL_LINE_EM = 1.5  # a line ending within this of the column's right edge runs to the edge
NEAR_FULL_EM = 6.0  # a line ending within this, mid-sentence, was wrapped (ragged right)
INDENT_EM = 0.6  # a first line starting this much right of the paragraph's edge is indented
HANGING_EM = 4.0  # an item's wrapped lines may start this far right of its marker
OUTDENT_EM = 3.0  # ... or this far left of its first line

# ---------------------------------------------------------------- reading order
COLUMN_MIN_WIDTH_SHARE = 0.3  # a text column (within a band) is at least this share of the text width
SIDE_NOTE_MAX_WIDTH_SHARE = 0.3  # a margin-note column is at most this share of the text width
SAME_ROW = 3.0  # blocks starting within this many points of height are read left to right

# ---------------------------------------------------------------- ruled tables
RULE_THICKNESS = 3.0  # a filled or stroked path thinner than this is a rule
RULE_MIN_LENGTH = 8.0
SNAP = 2.0  # rules within this many points are one
MIN_ROW_HEIGHT = 4.0
# A cell rectangle filled (no stroke) counts as a ruled cell when the page has at least
# this many of them in a grid (tables drawn as shaded cells with white gaps).
FILLED_CELL_MIN = 6

# ---------------------------------------------------------------- borderless tables
TABLE_MIN_ROWS = 3  # rows of aligned cells (header included)
TABLE_MIN_COLUMNS = 2
TABLE_MAX_CELL_CHARS = 40  # a cell this long is running text, not a cell
TABLE_ROW_GAP_EM = 2.6  # rows of one table follow within this many em of each other
TABLE_ALIGN_EM = 1.0  # cells of one column start, end or centre within this many em

# ---------------------------------------------------------------- captions
CAPTION_GAP_EM = 3.0  # a caption sits within this many em above (or below) its table/figure
LEAD_IN_MAX_CHARS = 200  # a longer last sentence before a table or figure is running text, not its title

# ---------------------------------------------------------------- figures
FIGURE_MIN_SHARE = 0.015  # a figure covers at least this share of the page
FIGURE_MAX_SHARE = 0.45  # a drawing over more of the page is its frame or a slide's panels
FIGURE_MIN_SIDE = 40.0  # ... and is at least this many points wide and high
FIGURE_MIN_PATHS = 6  # vector paths that make a drawn chart or diagram (bars, axes, boxes)
FIGURE_PATH_JOIN = 6.0  # paths this close belong to one drawing
FIGURE_MAX_LABEL_CHARS = 40  # text inside a figure is labels: lines at most this long
FIGURE_MAX_PROSE_SHARE = 0.5  # a region whose text is mostly sentences is a text box, not a figure
FIGURE_MAX_TEXT_COVER = 0.35  # ... as is one whose lines cover this share of its area

