#!/usr/bin/env bash
# CI: comments and error messages keep the line structure a reader needs. A formatter that
# reflows comments (clang-format's ReflowComments) runs formulas, tables and diagrams together
# and breaks them at the column limit; one that breaks string literals (BreakStringLiterals) cuts
# error messages where nobody would search for them. .clang-format turns both off; this check
# catches the damage if it comes back, from a formatter or a hand.
#
# In the C++ files given (default: every tracked .cpp/.hpp under autograd/, nn/, optim/,
# distributed/, examples/ and include/), it reports file:line for
#   comments, on a full-line // comment followed by another:
#     operator   the line ends with a binary operator (` =`, ` +`, ` -`, ` /`, ` ·`, ` ->`, ...):
#                a formula broken in the middle
#     bracket    a `[` is still open at the end of the line and the next line starts no further
#                right than this one's text: a shape like [B, H, Tq, Tk] cut in two (a deliberate
#                continuation, as a printed tensor, is indented under its bracket)
#     fragment   the next line holds only a number or starts with `)` or `]`: the tail of a
#                formula pushed onto a line of its own
#   string literals, on "..." at the end of a line followed by "..." at the start of the next, the
#   pieces of one message (a break after \n, one line of output per literal, or after a markup
#   tag's `>`, one element per literal, is a structure: not checked):
#     fits       both pieces fit on one line of 100 columns: the break has no reason to be
#     mid-word   the break falls inside a word ("optimi" "zer")
#     operator   the break falls between an operator and its operand ("x >= " "{}")
#     bracket    the break falls inside [...] (a shape or a range), or inside a (...) of at most
#                40 characters (one phrase)
#     stub       the message's last piece is 12 characters or fewer, and not a clause of its own
#                (after "; ", ": ", ". "): a formatter's leftover ("of shape " "{}")
# Split a long message between clauses instead: after its "op: " prefix, a "; " or ", ", or
# before a "(...)".
#
#   bash scripts/check_comments.sh               # the default files (from any directory)
#   bash scripts/check_comments.sh nn/*.hpp      # only these
set -euo pipefail

if (($# > 0)); then
  files=("$@")
else
  cd "$(dirname "$0")/.."
  mapfile -t files < <(git ls-files -- 'autograd/*.[ch]pp' 'nn/*.[ch]pp' 'optim/*.[ch]pp' \
    'distributed/*.[ch]pp' 'examples/*.[ch]pp' 'include/*.[ch]pp')
fi
((${#files[@]} > 0)) || { echo "check_comments: no files to check" >&2; exit 2; }

perl -CSD -Mutf8 -e '
use strict;
use warnings;
my $column_limit = 100;
my $short_parenthesis = 40;  # a (...) this short is one phrase: do not split it
my $short_tail = 12;         # the last piece of a message this short is a stub
my $found = 0;
$| = 1;

sub report { my ($file, $line, $what) = @_; print "$file:$line: $what\n"; $found++; }

# How many [ are left open in `text` once balanced [...] and (...) pairs are dropped (half-open
# ranges such as [0, n) count as balanced); in a comment, quoted and `code` text is dropped first.
sub open_brackets {
  my ($text, $in_comment) = @_;
  if ($in_comment) {
    $text =~ s/"(?:[^"\\]|\\.)*"//g;
    $text =~ s/`[^`]*`//g;
  }
  1 while $text =~ s/[\[(][^\[\]()]*[\])]//;
  my $open = () = $text =~ /\[/g;
  my $close = () = $text =~ /\]/g;
  return $open - $close;
}

# The string literals of a line of code, as [start column, end column, contents], outside
# comments and character literals; raw strings are skipped.
sub literals {
  my ($line) = @_;
  my @found;
  my $i = 0;
  my $n = length $line;
  while ($i < $n) {
    my $c = substr($line, $i, 1);
    if ($c eq "/" && substr($line, $i, 2) eq "//") { last; }
    if ($c eq "\x27") {  # a character literal: skip it whole
      if (substr($line, $i) =~ /^\x27(?:[^\x27\\]|\\.)+\x27/) { $i += length $&; next; }
      $i++; next;
    }
    if ($c eq "\"") {
      if (substr($line, $i) =~ /^"((?:[^"\\]|\\.)*)"/) {
        push @found, [$i, $i + length($&), $1];
        $i += length $&;
        next;
      }
      return @found;  # an unterminated literal: give up on this line
    }
    $i++;
  }
  return @found;
}

for my $file (@ARGV) {
  open(my $fh, "<", $file) or die "check_comments: cannot read $file: $!\n";
  my @lines = <$fh>;
  close $fh;
  chomp @lines;

  # Comments.
  for my $i (0 .. $#lines - 1) {
    my ($a, $b) = ($lines[$i], $lines[$i + 1]);
    next unless $a =~ m{^(\s*//)(\s*)(\S.*?)\s*$};
    my ($prefix, $indent, $text) = ($1, $2, $3);
    next unless $b =~ m{^(\s*//)(\s*)(\S.*?)\s*$};
    my ($next_prefix, $next_indent, $next_text) = ($1, $2, $3);
    next unless length($prefix) == length($next_prefix);
    my $line = $i + 1;
    if ($text =~ /\s(=|\+|-|−|\*|\/|·|×|⊙|<|<=|≤|>|>=|≥|&&|\|\||->|→)$/) {
      report($file, $line, "comment: a formula broken after \"$1\" (keep it on one line)");
    } elsif (open_brackets($text, 1) > 0 && length($next_indent) <= length($indent)) {
      report($file, $line, "comment: a [ left open across lines (keep the shape on one line)");
    } elsif ($next_text =~ /^(?:[0-9]+[)\].,]*|[)\]].*)$/) {
      report($file, $line + 1, "comment: the tail of a formula on a line of its own");
    }
  }

  # String literals split across lines: runs of lines where one ends with a literal and the next
  # starts with one, as pieces of one message.
  my $i = 0;
  while ($i < $#lines) {
    my @here = literals($lines[$i]);
    if (!@here || $lines[$i] !~ /"\s*$/ || $lines[$i + 1] !~ /^\s*"/) { $i++; next; }
    my @pieces = ([$i, $here[-1]]);  # [line index, literal]
    my $j = $i + 1;
    while ($j <= $#lines) {
      my @there = literals($lines[$j]);
      last unless @there;
      push @pieces, [$j, $there[0]];
      last unless @there == 1 && $lines[$j] =~ /"\s*$/;
      last unless $j < $#lines && $lines[$j + 1] =~ /^\s*"/;
      $j++;
    }
    check_message($file, \@lines, \@pieces) if @pieces > 1;
    $i = $j;
  }
}

sub check_message {
  my ($file, $lines, $pieces) = @_;
  my $message = join "", map { $_->[1][2] } @$pieces;
  my $offset = 0;
  for my $k (0 .. $#$pieces - 1) {
    my ($line_index, $literal) = @{$pieces->[$k]};
    my $head = $literal->[2];
    my $tail = $pieces->[$k + 1][1][2];
    $offset += length $head;
    next if $head =~ /\\n$/ || $head =~ />$/;  # one line of output, one markup element
    next if $head =~ /\\(?:x[0-9A-Fa-f]+|[0-7]{1,3})$/;  # "\xAC" "100": ends a hex escape
    my $line = $line_index + 1;
    my $next_line = $lines->[$line_index + 1];
    (my $joined = $next_line) =~ s/^\s*"//;
    $joined = substr($lines->[$line_index], 0, $literal->[1] - 1) . $joined;
    my ($bracket, $bracket_length) = open_bracket_at(substr($message, 0, $offset), $message);
    if (length($joined) <= $column_limit) {
      report($file, $line, "a string literal split although it fits on one line ("
             . length($joined) . " columns): \"$head\" \"$tail\"");
    } elsif ($head =~ /[A-Za-z0-9_]$/ && $tail =~ /^[A-Za-z0-9_]/) {
      report($file, $line, "a string literal split mid-word: \"$head\" \"$tail\"");
    } elsif ($head =~ /(?:^|\s)(?:=|==|!=|<|<=|>|>=|\+|-|\*|\/|·|×|->|→)\s$/) {
      report($file, $line, "a string literal split between an operator and its operand: "
             . "\"$head\" \"$tail\"");
    } elsif (defined $bracket && ($bracket eq "[" || $bracket_length <= $short_parenthesis)) {
      report($file, $line, "a string literal split inside $bracket...: \"$head\" \"$tail\"");
    } elsif ($k == $#$pieces - 1 && length($tail) <= $short_tail && $head !~ /[;:.?!] $/) {
      report($file, $line + 1, "a string literal ends in a stub of ${\ length($tail)} "
             . "characters on a line of its own: \"$tail\"");
    }
  }
}

# The innermost bracket still open at the end of `prefix` (a closer of either kind closes it, so
# that [0, n) and (0, 1] count as closed) and the length of what it encloses in the whole message.
sub open_bracket_at {
  my ($prefix, $message) = @_;
  my @stack;
  for my $p (0 .. length($message) - 1) {
    my $c = substr($message, $p, 1);
    if ($c eq "[" || $c eq "(") { push @stack, $p; }
    elsif (($c eq "]" || $c eq ")") && @stack) {
      my $open = pop @stack;  # the innermost pair spanning the split closes first
      return (substr($message, $open, 1), $p - $open + 1)
        if $open < length($prefix) && $p >= length($prefix);
    }
  }
  return (undef, 0);
}

if ($found) {
  print STDERR "check_comments: $found place(s) where a comment or a message lost its line "
    . "structure (see scripts/check_comments.sh for what each check means)\n";
  exit 1;
}
' -- "${files[@]}"
