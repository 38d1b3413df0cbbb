// The mail reader on small messages written here: MIME structure, transfer encodings, charsets,
// HTML, malformed headers, and garbage in (valid UTF-8 out, in linear time).
#include <doctest/doctest.h>

#include <filesystem>
#include <random>
#include <string>
#include <string_view>

#include "autograd/error.hpp"
#include "examples/common/mail.hpp"
#include "tests/testing.hpp"

using namespace tapegrad::text;

namespace {

// An independent check (it shares no code with the reader): well-formed UTF-8 per RFC 3629, no
// overlong forms, no surrogates, nothing above U+10FFFF.
bool is_valid_utf8(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    const auto lead = static_cast<unsigned char>(text[i]);
    const int continuations = lead < 0x80         ? 0
                              : lead >> 5 == 0x06 ? 1
                              : lead >> 4 == 0x0E ? 2
                              : lead >> 3 == 0x1E ? 3
                                                  : -1;
    if (continuations < 0 || text.size() - i <= static_cast<std::size_t>(continuations))
      return false;
    char32_t code_point = continuations == 0 ? lead : lead & (0x3F >> continuations);
    for (int k = 1; k <= continuations; ++k) {
      const auto byte = static_cast<unsigned char>(text[i + k]);
      if (byte >> 6 != 0x2) return false;
      code_point = code_point << 6 | (byte & 0x3F);
    }
    constexpr char32_t kSmallest[] = {0, 0x80, 0x800, 0x10000};
    if (code_point < kSmallest[continuations] || code_point > 0x10FFFF ||
        (code_point >= 0xD800 && code_point <= 0xDFFF))
      return false;
    i += static_cast<std::size_t>(continuations) + 1;
  }
  return true;
}

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

std::string crlf(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '\n') out.push_back('\r');
    out.push_back(c);
  }
  return out;
}

}  // namespace

TEST_CASE("mail: the test's UTF-8 check rejects what it must") {
  CHECK(is_valid_utf8("plain ascii, caf\xC3\xA9, \xE2\x82\xAC, \xF0\x9F\x98\x80"));
  CHECK_FALSE(is_valid_utf8("\xC3"));              // truncated
  CHECK_FALSE(is_valid_utf8("\xC0\xAF"));          // overlong
  CHECK_FALSE(is_valid_utf8("\xED\xA0\x80"));      // surrogate
  CHECK_FALSE(is_valid_utf8("\xF4\x90\x80\x80"));  // above U+10FFFF
  CHECK_FALSE(is_valid_utf8("\xFF"));
}

TEST_CASE("mail: multipart/alternative picks text/plain even after text/html") {
  const Mail mail = parse_mail(R"(From: a@example.com
Subject: choices
Content-Type: multipart/alternative; boundary="alt-1"

This is the preamble.
--alt-1
Content-Type: text/html; charset=us-ascii

<p>the <b>html</b> version</p>
--alt-1
Content-Type: text/plain; charset=us-ascii

the plain version
--alt-1--
This is the epilogue.
)");
  CHECK(mail.subject == "choices");
  CHECK(mail.body == "the plain version");
}

TEST_CASE("mail: nested multipart/mixed skips attachments and finds the inner text") {
  const Mail mail = parse_mail(R"(Subject: report
Content-Type: multipart/mixed; boundary=outer

--outer
Content-Type: text/plain; name="notes.txt"
Content-Disposition: attachment; filename="notes.txt"

attached notes, not the body
--outer
Content-Type: application/pdf
Content-Transfer-Encoding: base64

JVBERi0xLjQK
--outer
Content-Type: multipart/alternative;
	boundary="inner"

--inner
Content-Type: text/plain

the inner body
--inner
Content-Type: text/html

<p>the inner html</p>
--inner--
--outer--
)");
  CHECK(mail.body == "the inner body");
}

TEST_CASE("mail: an html-only body is stripped to its text") {
  const Mail mail = parse_mail(R"(Subject: offer
Content-Type: text/html

<html><head><style type="text/css">p { color: red; }</style>
<SCRIPT language="javascript">document.write("<p>hidden</p>");</SCRIPT></head>
<body><p>Buy   <b>n</b>ow!<!-- a <p>comment</p> --></p>
<p>Fish &amp; chips &lt;cheap&gt; &quot;fresh&quot; &#39;daily&#39;&nbsp;at&#160;5&#x20AC;</p>
<p>3 < 4 and AT&T &unknown;</p></body></html>
)");
  CHECK(mail.body ==
        "Buy now!\n"
        "Fish & chips <cheap> \"fresh\" 'daily' at\xC2\xA0"
        "5\xE2\x82\xAC\n"
        "3 < 4 and AT&T &unknown;");
}

TEST_CASE("mail: base64 body") {
  const Mail mail = parse_mail(R"(Subject: b64
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: base64

SGVsbG8sIHfDtnJsZCEKU2Vjb25k
IGxpbmUu
)");
  CHECK(mail.body == "Hello, w\xC3\xB6rld!\nSecond line.");
}

TEST_CASE("mail: quoted-printable body with soft line breaks") {
  const Mail mail = parse_mail(
      "Subject: qp\n"
      "Content-Type: text/plain; charset=iso-8859-1\n"
      "Content-Transfer-Encoding: Quoted-Printable\n"
      "\n"
      "caf=E9 au lait, a long line that was wra=\n"
      "pped, a soft break with trailing space=  \n"
      "here, 1+1=3D2, a lone = stays, =c3=a9 is two bytes.\n");
  CHECK(mail.body ==
        "caf\xC3\xA9 au lait, a long line that was wrapped, a soft break with trailing "
        "spacehere, 1+1=2, a lone = stays, \xC3\x83\xC2\xA9 is two bytes.\n");
}

TEST_CASE("mail: encoded subjects, B and Q, latin-1 and utf-8, adjacent words") {
  const auto subject = [](std::string_view header) {
    return parse_mail("Subject: " + std::string(header) + "\n\nbody").subject;
  };
  CHECK(subject("=?utf-8?B?w6l0w6k=?=") == "\xC3\xA9t\xC3\xA9");
  CHECK(subject("=?ISO-8859-1?Q?caf=E9_cr=E8me?=") == "caf\xC3\xA9 cr\xC3\xA8me");
  CHECK(subject("=?iso-8859-1?b?Y2Fm6Q==?= au lait") == "caf\xC3\xA9 au lait");
  CHECK(subject("=?utf-8?q?one?= =?utf-8?q?_two?=") == "one two");
  CHECK(subject("=?utf-8?Q?a?=\n =?utf-8?Q?b?=") == "ab");
  CHECK(subject("Re: =?utf-8?Q?x?= and =?utf-8?Q?y?=") == "Re: x and y");
  // A character split across two adjacent words comes out whole.
  CHECK(subject("=?utf-8?B?4oI=?= =?utf-8?B?rA==?=") == "\xE2\x82\xAC");
  CHECK(subject("=?utf-8?Q?unterminated") == "=?utf-8?Q?unterminated");
  CHECK(subject("=?utf-8?X?unknown encoding?=") == "=?utf-8?X?unknown encoding?=");
}

TEST_CASE("mail: folded headers are unfolded, names in any case") {
  const Mail mail = parse_mail(
      "SUBJECT: a subject\n"
      "\tfolded over\n"
      "  three lines\n"
      "content-TYPE: Multipart/Mixed;\n"
      " boundary=folded\n"
      "\n"
      "--folded\n"
      "\n"
      "found through the folded boundary\n"
      "--folded--\n");
  CHECK(mail.subject == "a subject\tfolded over  three lines");
  CHECK(mail.body == "found through the folded boundary");
}

TEST_CASE("mail: malformed header lines are skipped") {
  const Mail mail = parse_mail(
      "From someone@example.com  Thu Aug 22 16:37:34 2002\n"
      "no colon on this line\n"
      "  and its continuation\n"
      ": no name\n"
      "Bad Name: spaces are not allowed in names\n"
      "Subject: still found\n"
      "\n"
      "the body\n");
  CHECK(mail.subject == "still found");
  CHECK(mail.body == "the body\n");
}

TEST_CASE("mail: a missing Subject gives an empty subject") {
  const Mail mail = parse_mail("From: a@example.com\n\nhello\n");
  CHECK(mail.subject.empty());
  CHECK(mail.body == "hello\n");
}

TEST_CASE("mail: an empty body, and an empty message") {
  CHECK(parse_mail("Subject: nothing\n\n").body.empty());
  CHECK(parse_mail("Subject: nothing\n\n").subject == "nothing");
  const Mail empty = parse_mail("");
  CHECK(empty.subject.empty());
  CHECK(empty.body.empty());
}

TEST_CASE("mail: a message without a blank line is all headers") {
  const Mail mail = parse_mail("Subject: only headers\nFrom: a@example.com\nthis is no body");
  CHECK(mail.subject == "only headers");
  CHECK(mail.body.empty());
}

TEST_CASE("mail: invalid UTF-8 in body and subject becomes U+FFFD") {
  const Mail mail = parse_mail(
      "Subject: bad \xFF byte and =?utf-8?B?wA==?= word\n"
      "Content-Type: text/plain; charset=utf-8\n"
      "\n"
      "ok \xC3\xA9, cut \xE2\x82, overlong \xC0\xAF, surrogate \xED\xA0\x80.\n");
  CHECK(mail.subject ==
        "bad " + std::string(kReplacement) + " byte and " + std::string(kReplacement) + " word");
  const std::string r(kReplacement);
  CHECK(mail.body ==
        "ok \xC3\xA9, cut " + r + ", overlong " + r + r + ", surrogate " + r + r + r + ".\n");
  CHECK(is_valid_utf8(mail.subject));
  CHECK(is_valid_utf8(mail.body));
}

TEST_CASE("mail: an unknown charset keeps valid UTF-8 and replaces the rest") {
  const Mail mail =
      parse_mail("Subject: x\nContent-Type: text/plain; charset=koi8-r\n\n\xC3\xA9 and \xE9\n");
  CHECK(mail.body == "\xC3\xA9 and " + std::string(kReplacement) + "\n");
}

TEST_CASE("mail: CRLF line ends read like LF") {
  const std::string message = R"(Subject: =?utf-8?Q?crlf?=
 folded
Content-Type: multipart/alternative; boundary=b
Content-Transfer-Encoding: 7bit

--b
Content-Type: text/plain
Content-Transfer-Encoding: quoted-printable

first line, soft=
 break
second line
--b--
)";
  const Mail lf = parse_mail(message), crlf_mail = parse_mail(crlf(message));
  CHECK(lf.subject == "crlf folded");
  CHECK(lf.body == "first line, soft break\nsecond line");
  CHECK(crlf_mail.subject == lf.subject);
  CHECK(crlf_mail.body == lf.body);
}

TEST_CASE("mail: windows-1252 smart quotes and latin-1") {
  const Mail smart = parse_mail(
      "Subject: =?windows-1252?Q?=93hi=94?=\n"
      "Content-Type: text/plain; charset=\"Windows-1252\"\n"
      "\n"
      "\x93quoted\x94 \x91single\x92 \x96 \x85 \x80 \x81 caf\xE9");
  CHECK(smart.subject == "\xE2\x80\x9Chi\xE2\x80\x9D");
  CHECK(smart.body ==
        "\xE2\x80\x9Cquoted\xE2\x80\x9D \xE2\x80\x98single\xE2\x80\x99 \xE2\x80\x93 \xE2\x80\xA6 "
        "\xE2\x82\xAC " +
            std::string(kReplacement) + " caf\xC3\xA9");
  const Mail latin1 =
      parse_mail("Subject: x\nContent-Type: text/plain; charset=latin1\n\n\x93 \xE9\xFF");
  CHECK(latin1.body == "\xC2\x93 \xC3\xA9\xC3\xBF");
}

TEST_CASE("mail: a truncated multipart still gives its text") {
  const Mail no_close = parse_mail(R"(Subject: cut
Content-Type: multipart/mixed; boundary="cut"

--cut
Content-Type: text/plain

the text before the cut)");
  CHECK(no_close.body == "the text before the cut");
  const Mail cut_in_headers = parse_mail(
      "Subject: cut\nContent-Type: multipart/mixed; boundary=cut\n\n--cut\nContent-Type: text/pl");
  CHECK(cut_in_headers.body.empty());
  const Mail no_parts = parse_mail("Subject: cut\nContent-Type: multipart/mixed; boundary=cut\n\n");
  CHECK(no_parts.body.empty());
}

TEST_CASE("mail: multiparts nested deeper than the limit are not read") {
  const auto nested = [](int depth) {
    std::string message = "Subject: deep\n";
    for (int level = 0; level < depth; ++level)
      message += "Content-Type: multipart/mixed; boundary=b" + std::to_string(level) + "\n\n--b" +
                 std::to_string(level) + "\n";
    return message + "Content-Type: text/plain\n\nbottom";
  };
  CHECK(parse_mail(nested(8)).body == "bottom");
  CHECK(parse_mail(nested(9)).body.empty());
  CHECK(parse_mail(nested(20000)).body.empty());
}

TEST_CASE("mail: long pathological inputs are read in linear time") {
  const auto repeated = [](std::string_view piece) {
    std::string text;
    for (int i = 0; i < 200000; ++i) text += piece;
    return text;
  };
  const std::string html_head = "Subject: x\nContent-Type: text/html\n\n";
  const std::string multipart_head = "Subject: x\nContent-Type: multipart/mixed; boundary=b\n\n";
  const std::string inputs[] = {
      "Subject: " + repeated("=?a?B?") + "\n\n",
      "Subject: " + repeated("=?utf-8?Q?a?= ") + "\n\n",
      html_head + repeated("<!-"),
      html_head + repeated("<script>"),
      html_head + repeated("&#1"),
      html_head + repeated("<a"),
      multipart_head + repeated("--b\n"),
      multipart_head + repeated("--b\nContent-Type: multipart/mixed; boundary=b\n\n"),
      repeated("X: y\n "),
  };
  for (const std::string& input : inputs) {
    const Mail mail = parse_mail(input);
    CHECK(is_valid_utf8(mail.subject));
    CHECK(is_valid_utf8(mail.body));
  }
}

TEST_CASE("mail: random and garbled bytes give valid UTF-8") {
  const std::string valid = R"(Subject: =?utf-8?B?w6l0w6k=?= and =?iso-8859-1?Q?caf=E9?=
Content-Type: multipart/alternative; boundary="zz"

--zz
Content-Type: text/html; charset=windows-1252
Content-Transfer-Encoding: quoted-printable

<p>caf=E9 &amp; =93tea=94 <script>x</script> &#x20AC;</p>
--zz
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: base64

SGVsbG8sIHfDtnJsZCEK
--zz--
)";
  const std::string_view pieces[] = {
      "\n",
      "\r\n",
      " ",
      "\t",
      ":",
      ";",
      "=",
      "?",
      "--zz",
      "--zz--",
      "=?",
      "?=",
      "?B?",
      "?Q?",
      "=E9",
      "=\n",
      "<",
      ">",
      "<!--",
      "-->",
      "&#",
      "&",
      "\"",
      "\xFF",
      "\xC3",
      "\xE2\x82",
      "\xED\xA0\x80",
      "<script>",
      "Content-Type: multipart/mixed; boundary=zz\n",
      "Content-Transfer-Encoding: base64\n",
      "Content-Type: text/html\n",
      "Subject: ",
  };
  std::mt19937 random(20240611);
  const auto below = [&](std::size_t n) {
    return std::uniform_int_distribution<std::size_t>(0, n - 1)(random);
  };
  int garbled_with_body = 0;
  for (int trial = 0; trial < 3000; ++trial) {
    std::string input;
    if (trial % 3 == 0) {
      for (std::size_t i = below(400); i > 0; --i) input.push_back(static_cast<char>(below(256)));
    } else if (trial % 3 == 1) {
      for (std::size_t i = below(80); i > 0; --i)
        input += below(4) == 0 ? std::string(1, static_cast<char>(below(256)))
                               : std::string(pieces[below(std::size(pieces))]);
    } else {
      input = valid;
      for (std::size_t edits = 1 + below(4); edits > 0; --edits) {
        const std::size_t at = below(input.size());
        switch (below(3)) {
          case 0:
            input[at] = static_cast<char>(below(256));
            break;
          case 1:
            input.insert(at, pieces[below(std::size(pieces))]);
            break;
          case 2:
            input.resize(at);
            break;
        }
        if (input.empty()) input.push_back('x');
      }
    }
    INFO("trial ", trial);
    const Mail mail = parse_mail(input);
    CHECK(is_valid_utf8(mail.subject));
    CHECK(is_valid_utf8(mail.body));
    garbled_with_body += trial % 3 == 2 && !mail.body.empty();
  }
  // About half of the garbled messages keep a readable part: the loop reaches deep into the reader.
  CHECK(garbled_with_body > 300);
}

TEST_CASE("mail: read_mail reads a file and names a missing one") {
  const tapegrad::testing::ScratchDirectory directory;
  const Mail mail =
      read_mail(directory.write("from_a_file.eml", "Subject: from a file\r\n\r\nfile body\r\n"));
  CHECK(mail.subject == "from a file");
  CHECK(mail.body == "file body\n");
  const std::filesystem::path missing = directory / "no_such_mail.eml";
  CHECK_THROWS_WITH_AS(read_mail(missing), doctest::Contains(missing.string().c_str()),
                       tapegrad::Error);
}
