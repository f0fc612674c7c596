# `unixcorn --help` as a man page, roff for man(7): the NAME, SYNOPSIS,
# DESCRIPTION and OPTIONS sections. man/make-manpage adds the sections that
# --help lacks. It reads --help's layout, not its words, so a new flag or a
# new paragraph needs nothing here:
#   Usage: unixcorn [OPTIONS] [APP]          -> SYNOPSIS
#   first paragraph                          -> NAME, and DESCRIPTION's start
#   Options:                                 -> a section: a capitalized word
#   "  -b, --bind ADDR" / "      --tmp-dir DIR"   -> an option, with the lines
#                                               indented below it as its text
#   "  echo       text"                      -> a term and its text
#   anything else                            -> running text; a blank line
#                                               ends a paragraph
# Variables: version (as --version prints it) and date (YYYY-MM-DD).

# Text as roff reads it: backslashes kept, every hyphen a minus so that flags
# and paths copied from the page work, and no line taken for a request.
function esc(s) {
  gsub(/\\/, "\\e", s)
  gsub(/-/, "\\-", s)
  sub(/^[.']/, "\\\\\\&&", s)
  return s
}

function trim(s) {
  sub(/^[ \t]+/, "", s)
  sub(/[ \t]+$/, "", s)
  return s
}

# "-b, --bind ADDR": the flags in bold, the argument in italics.
function option_tag(s, parts, n, i, sp, out) {
  n = split(trim(s), parts, /, /)
  out = ""
  for (i = 1; i <= n; i++) {
    sp = index(parts[i], " ")
    if (sp > 0)
      parts[i] = "\\fB" esc(substr(parts[i], 1, sp - 1)) "\\fR \\fI" \
                 esc(substr(parts[i], sp + 1)) "\\fR"
    else
      parts[i] = "\\fB" esc(parts[i]) "\\fR"
    out = out (i > 1 ? ", " : "") parts[i]
  }
  return out
}

function header(name, synopsis) {
  printf ".\\\" Generated from `%s --help` by man/make-manpage: edit --help\n", name
  printf ".\\\" (src/config.c) or man/sections.1.in, not this file.\n"
  printf ".TH %s 1 \"%s\" \"%s\" \"User Commands\"\n", toupper(name), date, version
  # No hyphenation and no stretched spaces: a flag is never broken over two
  # lines, and the text reads as --help does.
  print ".nh"
  print ".ad l"
}

function flush_name() {
  # The whatis line: "unixcorn \- an HTTP/1.1 application server ..."
  sub(/\.$/, "", summary)
  print ".SH NAME"
  print prog " \\- " esc(tolower(substr(summary, 1, 1)) substr(summary, 2))
  print ".SH SYNOPSIS"
  print ".B " prog
  print synopsis
  print ".SH DESCRIPTION"
  print esc(summary_text)
}

NR == 1 {
  if ($1 != "Usage:") {
    print "make-manpage: --help does not start with `Usage:`" > "/dev/stderr"
    exit 1
  }
  prog = $2
  synopsis = $0
  sub(/^Usage: +[^ ]+ */, "", synopsis)
  # [OPTIONS] [APP]: the placeholders in italics.
  synopsis = esc(synopsis)
  gsub(/[A-Z][A-Z_]+/, "\\fI&\\fR", synopsis)
  header(prog, synopsis)
  state = "summary" # the paragraph that names the program comes next
  next
}

state == "summary" {
  if ($0 == "" && summary == "")
    next
  if ($0 != "") {
    summary = trim(summary " " trim($0))
    summary_text = summary_text (summary_text == "" ? "" : "\n") $0
    next
  }
  flush_name()
  state = "text"
  blank = 1
  next
}

$0 == "" {
  blank = 1
  next
}

/^[A-Z][a-z]+:$/ {
  sub(/:$/, "")
  print ".SH " toupper($0)
  blank = 0
  next
}

/^  -[^ -], --[^ ]/ || /^      --[^ ]/ {
  print ".TP"
  print option_tag($0)
  blank = 0
  next
}

/^  [^ ]+  +[^ ]/ {
  line = trim($0)
  term = line
  sub(/  .*/, "", term)
  sub(/^[^ ]+ +/, "", line)
  print ".TP"
  print "\\fB" esc(term) "\\fR"
  print esc(line)
  blank = 0
  next
}

{
  if (blank && !/^  /)
    print ".PP"
  blank = 0
  print esc(trim($0))
}

END {
  if (state == "summary" && summary != "")
    flush_name()
}
