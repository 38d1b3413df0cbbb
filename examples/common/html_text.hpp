// The readable text of an HTML document, the way a mail reader shows it: tags dropped, <script>
// and <style> contents and <!-- comments --> dropped, character references unescaped, runs of
// whitespace collapsed to one space, and block elements (p, div, br, li, tr, td, headings...) on
// lines of their own.
#pragma once

#include <string>
#include <string_view>

namespace tapegrad::text {

// `html` must be UTF-8; the text is then UTF-8 too. Unescapes &amp; &lt; &gt; &quot; &apos;
// &nbsp; (as a plain space) and numeric references &#NNN; &#xHH; (invalid code points become
// U+FFFD); other references are kept as written. A '<' that opens no tag is text.
std::string html_to_text(std::string_view html);

}  // namespace tapegrad::text
