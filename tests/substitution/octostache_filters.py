"""The FiltersFixture half of the Octostache table (see octostache_table.py for the format)."""

from __future__ import annotations

from typing import Callable

_F = "FiltersFixture."
_TEXT = "Pack my box with five dozen liquor jugs"
_TEXT2 = "Pack my box with five dozen liquor jugs!"
_TEXT_B64 = "UGFjayBteSBib3ggd2l0aCBmaXZlIGRvemVuIGxpcXVvciBqdWdz"

# Digests of the empty text, _TEXT, _TEXT2 (UTF-8) and _TEXT as UTF-16LE ("unicode").
_DIGESTS = {
    "Md5": ("d41d8cd98f00b204e9800998ecf8427e", "1c50c85df8c02c99bc1605f66e11b04a",
            "8eaac70134fb15a7b47639ce081299ca", "2e870f6e92dfe6af4d627bf549c6fadd"),
    "Sha1": ("da39a3ee5e6b4b0d3255bfef95601890afd80709", "373ba8be29d4d95708bf7cd43038f4e409dcb439",
             "8b876c4922a376ad6fb7f7c2144c2ae82d3ebf6b", "be7756866583d394c42f40ef9934aae7737c8685"),
    "Sha256": ("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
               "adf457ba89c70a9999952666bc2f538b1503207802584248ee744690c61a0b97",
               "c9f37a45e6a1ce71368c6f4a2d35441abfd71da2057ea0caa00406db51226f88",
               "e0547bb0aae38e8f4ee7af1ce3e2deb9c218f8620f094425fc521bc4bbabb9a7"),
    "Sha384": ("38b060a751ac96384cd9327eb1b1e36a21fdb71114be07434c0cc7bf63f6e1da274edebfe76f65fbd51ad2f14898b95b",
               "e615ecd290b9dc0ea31a646debd2d51802eded44e3c6e7132b6871325a0515c01bc2b4052ecf828ef5dfa30a7b480081",
               "6c7c2c68736cccbbba81824adede40a094f0f36337e8446d3f1ef86fe26c234a1331108e370f9c20005f54dc02ff2624",
               "0518eb9e0b83dae9d42a21f04e2a1a2b7874a3881b30af5553d075bbf88cd06d5d3687bd901efbe780b0107825ab8132"),
    "Sha512": ("cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63"
               "b931bd47417a81a538327af927da3e",
               "f9ae838fd77d02bc9e3dd0a7016bba1eb29d9dfc107e18e34e54826e02e08fe07ea8293e561fca169662e44b3a064517"
               "91872fc24ba44b64121f7b419fb4aa48",
               "58cc13881af65ffcc11c0c3914892637de2fc5cf68ea7c804002d71cf3528eb0e9b46afc1e79e7391d09baa094aa8f8d"
               "154e699102f279c9e2c7a46a38886989",
               "86d9d55a0404ea6acc2a689f6f946c0304d5c703691d3e4831785051c5295539cd16a9eee9696fc50f8d874f5135e2f7"
               "f6f866007d637550797808590b4edff4"),
}

NULL_VALUE = "a variable whose value is a .NET null; bundlekit values are always text (the empty-text row covers it)"
CULTURE = "the expected text is the test machine's culture's currency format"


def _hash_rows(row: Callable[..., None], name: str) -> None:
    empty, text, text2, text16 = _DIGESTS[name]
    for bad in ("-1", "0", "bar", "utf8 0", "0 utf8", "bar 12", "12 bar", "utf8 12 extra", "12 utf8 extra", "base64"):
        row(_F + f"{name}HashInvalidTemplate", f"#{{v | {name} {bad}}}", {"v": "bar"}, f"#{{v | {name} {bad}}}",
            check="unquoted")
    row(_F + f"{name}HashInvalidTemplate", f"#{{ | {name}}}", {"v": "bar"}, f"#{{ | {name}}}", check="unquoted")
    for value, digest in (("", empty), (_TEXT, text), (_TEXT2, text2)):
        row(_F + f"{name}Hash", f"#{{v | {name}}}", {"v": value}, digest)
    for value, digest, size in (("", empty[:8], 4), (_TEXT, text[:6], 3), (_TEXT2, text2, 800)):
        row(_F + f"{name}HashWithSize", f"#{{v | {name} {size}}}", {"v": value}, digest)
    for value, digest, encoding in (("", empty, "utf8"), ("", empty, "utf-8"), ("", empty, "unicode"),
                                    (_TEXT, text16, "unicode"), (_TEXT2, text2, "utf8"), (_TEXT_B64, text, "base64")):
        row(_F + f"{name}HashWithEncoding", f"#{{v | {name} {encoding}}}", {"v": value}, digest)
    for value, digest, encoding, size in (("", empty[:8], "utf8", 4), ("", empty[:10], "utf-8", 5),
                                          ("", empty[:6], "unicode", 3), (_TEXT, text16, "unicode", 800),
                                          (_TEXT2, text2[:4], "utf8", 2)):
        row(_F + f"{name}HashWithEncodingAndSize", f"#{{v | {name} {encoding} {size}}}", {"v": value}, digest)
        row(_F + f"{name}HashWithEncodingAndSize", f"#{{v | {name} {size} {encoding}}}", {"v": value}, digest)


def _comparison_rows(row: Callable[..., None], name: str, yes: str, no: str, spaced: str, quoted: str) -> None:
    test = _F + name
    row(test, f"#{{v | {name} {yes}}}", {"v": "ink jet"}, "true")
    row(test, f"#{{v | {name} {no}}}", {"v": "ink jet"}, "false")
    row(test, f"#{{v | {name}}}", {"v": "ink jet"}, f"#{{v | {name}}}")
    row(test, f"#{{v | {name} p q}}", {"v": "ink jet"}, f'#{{v | {name} "p" "q"}}')
    row(test, f"#{{v | {name} {yes.upper()}}}", {"v": "ink jet"}, "false")
    row(test, f'#{{v | {name} "{spaced}"}}', {"v": "ink jet"}, "true")
    row(test, f'#{{v | {name} "{quoted}"}}', {"v": "ink'jet"}, "true")


def add_filter_rows(row: Callable[..., None], na: Callable[[str, str], None]) -> None:
    """Every test of Octostache's FiltersFixture, as rows."""
    for tpl in ("#{bar | ToUpper}", "#{Bar.Baz | HtmlEscape}", "#{Bar.Baz | ToUpper}", "#{Bar.Baz | Markdown}",
                "#{Bar.Baz | MarkdownToHtml}"):
        row(_F + "UnmatchedSubstitutionsAreEchoed", tpl, {}, tpl, reports=True)
    row(_F + "UnknownFiltersAreEchoed", "#{Word | ToTrombone}", {"Word": "Abc"}, "#{Word | ToTrombone}")
    row(_F + "UnknownFiltersWithOptionsAreEchoed", "#{Word | ToTrombone 9}", {"Word": "Abc"}, "#{Word | ToTrombone 9}",
        check="unquoted")
    row(_F + "FiltersAreApplied", "#{Word | ToUpper}", {"Word": "Abc"}, "ABC")
    for tpl in ("#{Word|ToUpper}", "#{Word | ToUpper}", "#{Word  | ToUpper}", "#{Word |  ToUpper}", "#{ Word | ToUpper}",
                "#{  Word | ToUpper}", "#{Word | ToUpper }", "#{Word | ToUpper  }"):
        row(_F + "WhiteSpacesAreIgnored", tpl, {"Word": "Abc"}, "ABC")
    row(_F + "HtmlIsEscaped", "#{v | HtmlEscape}", {"v": "R&'D"}, "R&amp;&apos;D")
    row(_F + "HtmlIsEscaped", "#{v | HtmlEscape}", {"v": ""}, "")
    na(_F + "HtmlIsEscaped", NULL_VALUE)
    row(_F + "UriDataStringsAreEncoded", "#{v | UriDataEscape}", {"v": "Q r:s+t/u"}, "Q%20r%3As%2Bt%2Fu")
    row(_F + "UriDataStringsAreEncoded", "#{v | UriDataEscape}", {"v": ""}, "")
    na(_F + "UriDataStringsAreEncoded", NULL_VALUE)
    row(_F + "UriStringsAreEncoded", "#{v | UriEscape}", {"v": "Q r:s+t/u"}, "Q%20r:s+t/u")
    row(_F + "UriStringsAreEncoded", "#{v | UriEscape}", {"v": ""}, "")
    na(_F + "UriStringsAreEncoded", NULL_VALUE)
    row(_F + "XmlIsEscaped", "#{v | XmlEscape}", {"v": "R&'D"}, "R&amp;&apos;D")
    for value, out in (('a"b', 'a\\"b'), ("a\rb", "a\\rb"), ("a\nb", "a\\nb"), ("a\tb", "a\\tb"), ("a\\b", "a\\\\b")):
        row(_F + "JsonIsEscaped", "#{v | JsonEscape}", {"v": value}, out)
    for value, out in (("it's", "it''s"), ("\\'", "\\''"), ("p\n\tq\n\tr", "p\n\n\tq\n\n\tr"), ("p\r\nq", "p\r\n\r\nq"),
                       ("p\n\r\nq", "p\n\n\r\nq"), ("", "")):
        row(_F + "YamlSingleQuoteIsEscaped", "#{v | YamlSingleQuoteEscape}", {"v": value}, out)
    na(_F + "YamlSingleQuoteIsEscaped", NULL_VALUE)
    for value, out in (('say "hi"', 'say \\"hi\\"'), ("\\", "\\\\"), ('"', '\\"'), ("\t", "\\t"), ("\n", "\\n"),
                       ("\r\n", "\\r\\n"), ("p\n\tq\n\tr", "p\\n\\tq\\n\\tr"), ("p\r\nq", "p\\r\\nq"),
                       ("it's", "it's"), ("章鱼你好", "\\u7ae0\\u9c7c\\u4f60\\u597d")):
        row(_F + "YamlDoubleQuoteIsEscaped", "#{v | YamlDoubleQuoteEscape}", {"v": value}, out)
    na(_F + "YamlDoubleQuoteIsEscaped", NULL_VALUE)
    for value in ("", "z", '"', "'", "\t", "\n", "\r\n", "章鱼你好", "Two\nlines and a\r\n \"quoted\"\tpart \\♥"):
        row(_F + "YamlDoubleQuotedStringsCanRoundTrip", 'Key: "#{In | YamlDoubleQuoteEscape}"', {"In": value}, value,
            check="yaml")
    for value in ("", "z", '"', "'", "\t", "\n", "章鱼你好", "seven spaces here\nand one line break"):
        row(_F + "YamlSingleQuotedStringsCanRoundTrip", "Key: '#{In | YamlSingleQuoteEscape}'", {"In": value}, value,
            check="yaml")
    for value, out in (("\r\n", "\n"), ("\r\n\r\n", "\n\n"), ("p\nq", "p\nq"), ("p \nq", "p\nq"), ("p\n q", "p\nq"),
                       ("p\n\nq", "p\n\nq"), ("p\r\nq", "p\nq"), ("p\r\n\nq", "p\n\nq"), ("p \n\nq", "p\n\nq"),
                       ("p\n\n\n\n\r\nq", "p\n\n\n\n\nq"), ("seven spaces here\nand one line break",
                                                            "seven spaces here\nand one line break")):
        row(_F + "YamlSingleQuotedStringsCanRoundTripWithSideEffects", "Key: '#{In | YamlSingleQuoteEscape}'",
            {"In": value}, out, check="yaml")
    for value, out in ((" ", "\\ "), (":", "\\:"), ("=", "\\="), ("\\", "\\\\"), ("\r", "\\r"), ("\n", "\\n"),
                       ("\t", "\\t"), (" x \n y ", "\\ x\\ \\n\\ y\\ "), ("abcxyz", "abcxyz"), ("ABCXYZ", "ABCXYZ"),
                       ("0189", "0189"), ("章鱼你好", "\\u7ae0\\u9c7c\\u4f60\\u597d"), ("éñ", "éñ")):
        row(_F + "PropertiesKeyIsEscaped", "#{v | PropertiesKeyEscape}", {"v": value}, out)
    for value, out in ((":", ":"), ("=", "="), (" ", "\\ "), ("x ", "x "), ("\\", "\\\\"), ("\r", "\\r"), ("\n", "\\n"),
                       ("\t", "\\t"), (" x \n y ", "\\ x \\n y "), ("abcxyz", "abcxyz"), ("ABCXYZ", "ABCXYZ"),
                       ("0189", "0189"), ("章鱼你好", "\\u7ae0\\u9c7c\\u4f60\\u597d"), ("éñ", "éñ")):
        row(_F + "PropertiesValueIsEscaped", "#{v | PropertiesValueEscape}", {"v": value}, out)
    for tpl in ("#{v | Markdown}", "#{v | MarkdownToHtml}"):
        row(_F + "MarkdownIsProcessed", tpl + "|", {"v": "_gone!_"}, "<p><em>gone!</em></p>\n|")
    for tpl in ("#{v | Markdown}", "#{v | MarkdownToHtml}"):
        row(_F + "MarkdownHttpLinkIsProcessed", tpl, {"v": "https://example.org"},
            '<p><a href="https://example.org">https://example.org</a></p>\n')
    for tpl in ("#{v | Markdown}", "#{v | MarkdownToHtml}"):
        row(_F + "MarkdownHttpLinkIsProcessed", tpl, {"v": "[A page](https://example.org)"},
            '<p><a href="https://example.org">A page</a></p>\n')
    for tpl in ("#{v | Markdown}", "#{v | MarkdownToHtml}"):
        row(_F + "MarkdownTablesAreProcessed", tpl, {"v": "|Left|Right|\n|-|-|\n|L1|R1|"},
            "<table>\n<thead>\n<tr>\n<th>Left</th>\n<th>Right</th>\n</tr>\n</thead>\n<tbody>\n<tr>\n<td>L1</td>\n"
            "<td>R1</td>\n</tr>\n</tbody>\n</table>\n")
    _date = {"When": "2031/02/14 18:40:00"}
    row(_F + "DateIsFormatted", '#{When | Format Date "HH dd-MMM-yyy"}', _date, "18 14-Feb-2031")
    row(_F + "DateFormattingCanUseInnerVariable", "#{When | Format Date #{Fmt}}", {**_date, "Fmt": "HH dd-MMM-yyyy"},
        "18 14-Feb-2031")
    na(_F + "GenericConverterAcceptsDouble", CULTURE)
    row(_F + "GenericConverterAcceptsDate", '#{When | Format DateTime "HH dd-MMM-yyyy" }', _date, "18 14-Feb-2031")
    row(_F + "EscaoedFilterStringAccepted", '#{When | Format DateTime \\"HH dd-MMM-yyyy\\" }', _date, "18 14-Feb-2031")
    na(_F + "FormatFunctionDefaultAssumeDecimal", CULTURE)
    row(_F + "FormatFunctionWillTryDefaultDateTimeIfNotDecimal", "#{ When | Format yyyy}", _date, "2031")
    row(_F + "FormatFunctionWillReturnUnreplacedIfNoDefault", "#{Junk | Format yyyy}", {"Junk": "not a date"},
        "#{Junk | Format yyyy}", check="unquoted")
    row(_F + "NowDateReturnsNow", "#{ | NowDate}", {}, "2031-11-03T14:07:09.5000000")
    row(_F + "NowDateCanBeFormatted", "#{ | NowDate yyyy}", {}, "2031")
    row(_F + "NullJsonPropertyTreatedAsEmptyString", "Ba#{Obj.Gone | ToUpper}na", {"Obj": "{Gone: null}"}, "Bana")
    row(_F + "NowDateCanBeChained", "#{ | NowDate | Format Date MMM}", {}, "Nov")
    row(_F + "NowDateReturnsNowInUtc", "#{ | NowDateUtc}", {}, "2031-11-03T13:07:09.5000000Z")
    row(_F + "NowDateUtcCanBeChained", "#{ | NowDateUtc | Format DateTimeOffset zz}", {}, "+00")
    row(_F + "NowDateUtcCanBeChained", "#{ | NowDate | Format DateTimeOffset zz}", {}, "+01")
    _start = {"Start": "2031-02-14 18:40:00"}
    for amount, out in (("3", "2031-02-14 21:40:00"), ("-3", "2031-02-14 15:40:00"), ("0", "2031-02-14 18:40:00"),
                        ('"2.5"', "2031-02-14 21:10:00"), ("48", "2031-02-16 18:40:00")):
        row(_F + "AddHoursShiftsTheDate", f'#{{Start | AddHours {amount} | Format "yyyy-MM-dd HH:mm:ss"}}', _start, out)
    for amount, out in (("1", "2031-02-15 18:40:00"), ("-1", "2031-02-13 18:40:00"), ("20", "2031-03-06 18:40:00"),
                        ('"0.25"', "2031-02-15 00:40:00")):
        row(_F + "AddDaysShiftsTheDate", f'#{{Start | AddDays {amount} | Format "yyyy-MM-dd HH:mm:ss"}}', _start, out)
    row(_F + "AddDaysCanBeChainedWithAddHours", '#{Start | AddDays 2 | AddHours 1 | Format "yyyy-MM-dd HH:mm:ss"}',
        _start, "2031-02-16 19:40:00")
    row(_F + "AddHoursAmountCanComeFromAnotherVariable", "#{Start | AddHours #{Window}}", {**_start, "Window": "6"},
        "2031-02-15T00:40:00.0000000")
    row(_F + "AddHoursCanBeWrappedInAVariableToVaryTheAmount", "#{Finish}",
        {**_start, "Finish": '#{Start | AddHours 6 | Format "yyyy-MM-dd HH:mm:ss"}'}, "2031-02-15 00:40:00")
    row(_F + "AddHoursKeepsAnExplicitOffset", "#{Start | AddHours 3}", {"Start": "2031-02-14T18:40:00-05:00"},
        "2031-02-14T21:40:00.0000000-05:00")
    row(_F + "AddHoursCanBeChainedOffNowDate", "#{ | NowDate | AddHours 2}", {}, "2031-11-03T16:07:09.5000000")
    row(_F + "AddHoursOnNowDateUtcStaysInUtc", "#{ | NowDateUtc | AddHours 2 | Format DateTimeOffset zz}", {}, "+00")
    for tpl in ("#{Start | AddHours}", "#{Start | AddHours 2 3}", "#{Start | AddHours xyz}", "#{Junk | AddHours 2}",
                "#{ | AddHours 2}", "#{Start | AddDays}", "#{Start | AddDays xyz}", "#{Junk | AddDays 2}"):
        row(_F + "DateAddFiltersWithUnusableInputAreEchoed", tpl, {**_start, "Junk": "not a date"}, tpl,
            check="unquoted")
    row(_F + "FiltersAreAppliedInOrder", "#{Word|ToUpper|ToLower}", {"Word": "Abc"}, "abc")
    row(_F + "StringsCanBeBase64Encoded", "#{Phrase | tobase64}", {"Phrase": "Hi There"}, "SGkgVGhlcmU=")
    row(_F + "Replace", "#{v | Replace xyz uvw}", {"v": "xyz"}, "uvw")
    row(_F + "ReplaceWithEmptyString", "#{v | Replace x}", {"v": "xyz"}, "yz")
    row(_F + "ReplaceDoesNothing", "#{v | Replace}", {"v": "xyz"}, "#{v | Replace}")
    row(_F + "ReplaceIsCaseSensitive", "#{v | Replace xyz uvw}", {"v": "XYZ"}, "XYZ")
    row(_F + "ReplaceHandlesSpaces", '#{v | Replace "x y" "u v w"}', {"v": "x y"}, "u v w")
    row(_F + "ReplaceWorksWithVariableOptions", "#{v | Replace #{pattern}#{with}}",
        {"v": "xyz", "pattern": "y", "with": "Q"}, "xQz")
    row(_F + "ReplaceHandlesDoubleQuotesViaNestedSubsitution", "#{v | Replace #{pattern}#{with}}",
        {"v": 'x"y', "pattern": 'x"', "with": '"q'}, '"qy')
    row(_F + "ReplaceHandlesSingleQuotes", "#{v | Replace \"x'y\" \"u'v\"}", {"v": "x'y"}, "u'v")
    row(_F + "ReplaceRange", '#{v | Replace "[a-z]+" 9}', {"v": "x'y"}, "9'9")
    row(_F + "ReplaceHandlesEscapingRegexSpecialCharacter", '#{v | Replace "x\\(y" "u(v"}', {"v": "x(y"}, "u(v")
    row(_F + "ReplaceCanSubstitute", '#{v | Replace "q(.+)q([a-z]*)z" "q$2q$1z"}', {"v": "qabqcdz"}, "qcdqabz")
    row(_F + "ReplaceCanDoMultipleSubstitutions", '#{v | Replace "x" k}', {"v": "xyxyx"}, "kykyk")
    row(_F + "ReplaceAtStartOfLine", '#{v | Replace "^x" k}', {"v": "xyxyx"}, "kyxyx")
    row(_F + "ReplaceAtEndOfLine", '#{v | Replace "x$" k}', {"v": "xyxyx"}, "xyxyk")
    _od = {"v": "Release Manager"}
    row(_F + "SubstringDoesNothing", "#{v | Substring}", _od, "#{v | Substring}", check="unquoted")
    row(_F + "SubstringWithTooManyArgumentsDoesNothing", "#{v | Substring 1 2 3}", _od, "#{v | Substring 1 2 3}",
        check="unquoted")
    row(_F + "SubstringWithOnlyLength", "#{v | Substring 7}", _od, "Release", check="unquoted")
    row(_F + "SubstringWithStartAndLength", "#{v | Substring 8 7}", _od, "Manager", check="unquoted")
    row(_F + "SubstringHandlesNonNumericLength", "#{v | Substring a}", _od, "#{v | Substring a}", check="unquoted")
    row(_F + "SubstringHandlesNonNumericLengthWithStart", "#{v | Substring 0 a}", _od, "#{v | Substring 0 a}",
        check="unquoted")
    row(_F + "SubstringLengthBeyondEndReturnsWholeString", "#{v | Substring 40}", _od, "Release Manager",
        check="unquoted")
    row(_F + "SubstringStartAtEndOfStringReturnsEmpty", "#{v | Substring 15 4}", _od, "", check="unquoted")
    row(_F + "SubstringTruncatesLengthWhenExceedingStringBoundary", "#{v | Substring 8 9}", _od, "Manager",
        check="unquoted")
    row(_F + "SubstringHandlesNegativeValueForLength", "#{v | Substring -1}", _od, "#{v | Substring -1}",
        check="unquoted")
    row(_F + "SubstringHandlesNegativeStartAndLength", "#{v | Substring 0 -1}", _od, "#{v | Substring 0 -1}",
        check="unquoted")
    row(_F + "SubstringHandlesStartIndexExceedsLengthWithTwoOptions", "#{v | Substring 30 4}", _od,
        "#{v | Substring 30 4}", check="unquoted")
    row(_F + "TruncateDoesNothing", "#{v | Truncate}", _od, "#{v | Truncate}", check="unquoted")
    row(_F + "TruncateDoesNothingWithLengthGreaterThanArgumentLength", "#{v | Truncate 60}", _od, "Release Manager",
        check="unquoted")
    row(_F + "TruncateHandlesNonNumericLength", "#{v | Truncate a}", _od, "#{v | Truncate a}", check="unquoted")
    row(_F + "TruncateHandlesNegativeLength", "#{v | Truncate -1}", _od, "#{v | Truncate -1}", check="unquoted")
    row(_F + "TruncateTruncatesArgumentToSpecifiedLength", "#{v | Truncate 7}", _od, "Release...")
    row(_F + "TruncateAppliesACustomSuffix", '#{v | Truncate 7 "[+]"}', _od, "Release[+]")
    row(_F + "TruncateWithAnEmptySuffixOmitsTheEllipsis", '#{v | Truncate 7 ""}', _od, "Release")
    row(_F + "TruncateDoesNotApplyTheSuffixWhenNothingIsTruncated", '#{v | Truncate 60 "[+]"}', _od, "Release Manager")
    _pad = {"v": "  Release Manager  "}
    row(_F + "TrimIsApplied", "#{v | Trim}", _pad, "Release Manager")
    row(_F + "TrimStartIsApplied", "#{v | Trim start}", _pad, "Release Manager  ")
    row(_F + "TrimEndIsApplied", "#{v | Trim End}", _pad, "  Release Manager")
    row(_F + "TrimCanBeChained", "#{v | Substring 8 | Trim}", _od, "Release")
    row(_F + "TrimWithInvalidOptionDoesNoting", "#{v | Trim Both}", _od, "#{v | Trim Both}", check="unquoted")
    _lines = {"v": "one\ntwo\nthree"}
    row(_F + "IndentingAnEmptyStringHasNoEffect", "#{v | Indent}", {"v": ""}, "")
    row(_F + "IndentingDefaultsToFourSpaces", "#{v | Indent}", {"v": "one"}, "    one")
    row(_F + "IndentingDefaultsToFourSpacesAcrossMultipleLines", "#{v | Indent}", _lines, "    one\n    two\n    three")
    row(_F + "IndentWithCustomSizeAffectsEachLine", "#{v | Indent 2}", _lines, "  one\n  two\n  three")
    row(_F + "IndentOnSubsequentLinesOnly", "#{v | Indent /3}", _lines, "one\n   two\n   three")
    row(_F + "IndentSizeDifferentOnSubsequentLines", "#{v | Indent 3/2}", _lines, "   one\n  two\n  three")
    row(_F + "IndentWithCustomValue", "#{v | Indent //}", _lines, "//one\n//two\n//three")
    row(_F + "IndentWithDifferentOnSubsequentLines", '#{v | Indent "/* " " * "}', _lines, "/* one\n * two\n * three")
    row(_F + "IndentHasMaximumSizeOf255", "#{v | Indent 255}", _lines, "\n".join(" " * 255 + w for w in ("one", "two", "three")))
    row(_F + "IndentHasMaximumSizeOf255", "#{v | Indent 256}", _lines, "256one\n256two\n256three")
    row(_F + "IndentMaximumAppliesOnSubsequent", "#{v | Indent /255}", _lines,
        "one\n" + " " * 255 + "two\n" + " " * 255 + "three")
    row(_F + "IndentMaximumAppliesOnSubsequent", "#{v | Indent /256}", _lines, "/256one\n/256two\n/256three")
    row(_F + "IndentMaximumAppliesOnInitial", "#{v | Indent 255/3}", _lines, " " * 255 + "one\n   two\n   three")
    row(_F + "IndentMaximumAppliesOnInitial", "#{v | Indent 256/3}", _lines, "256/3one\n256/3two\n256/3three")
    row(_F + "IndentWithInvalidOptionsDoesNothing", "#{v | Indent abc 123 def}", {"v": "x"},
        "#{v | Indent abc 123 def}", check="unquoted")
    row(_F + "IndentWithNoArgumentDoesNothing", "#{ | Indent}", {"v": "x"}, "#{ | Indent}")
    row(_F + "IndentWithHashCharacter", '#{ v | Indent \\"# \\"}', _lines, "# one\n# two\n# three")
    na(_F + "NullFilterShouldOutputNull", "the whole result is a .NET null (the 'null' filter), which has no text form")
    for url, part, out in (
            ("/guide", "UriPart Host", "[UriPart Host error: This operation is not supported for a relative URI.]"),
            ("https://example.org/guide", "UriPart", "[UriPart error: no argument given]"),
            ("https://example.org/guide", "UriPart baz", "[UriPart baz error: argument 'baz' not supported]"),
            ("https://example.org/guide", "UriPart AbsolutePath", "/guide"),
            ("https://example.org/guide", "UriPart AbsoluteUri", "https://example.org/guide"),
            ("https://example.org/guide", "UriPart Authority", "example.org"),
            ("https://example.org/guide", "UriPart DnsSafeHost", "example.org"),
            ("https://example.org/guide#setup", "UriPart Fragment", "#setup"),
            ("https://example.org/guide", "UriPart Host", "example.org"),
            ("https://example.org/guide", "UriPart HostAndPort", "example.org:443"),
            ("https://example.org/guide", "UriPart HostNameType", "Dns"),
            ("https://example.org/guide", "UriPart IsAbsoluteUri", "true"),
            ("https://example.org/guide", "UriPart IsDefaultPort", "true"),
            ("https://example.org/guide", "UriPart IsFile", "false"),
            ("https://example.org/guide", "UriPart IsLoopback", "false"),
            ("https://example.org/guide", "UriPart IsUnc", "false"),
            ("https://example.org/guide", "UriPart Path", "/guide"),
            ("https://example.org/guide?tab=api", "UriPart PathAndQuery", "/guide?tab=api"),
            ("https://example.org/guide", "UriPart Port", "443"),
            ("https://example.org/guide?tab=api", "UriPart Query", "?tab=api"),
            ("https://example.org/guide", "UriPart Scheme", "https"),
            ("https://example.org/guide", "UriPart SchemeAndServer", "https://example.org"),
            ("https://alice:s3cret@example.org", "UriPart UserInfo", "alice:s3cret")):
        row(_F + "UriPart", f"#{{v | {part}}}", {"v": url}, out)
    for value, option, out in (("ink jet", "Match ink", "true"), ("ink jet", "Match kni", "false"),
                               ("ink jet", "Match", "#{v | Match}"), ("ink jet", "Match p q", '#{v | Match "p" "q"}'),
                               ("ink jet", "Match INK", "false"), ("ink jet", 'Match "ink jet"', "true"),
                               ("ink'jet", "Match \"ink'jet\"", "true"), ("ink jet", 'Match ".*"', "true"),
                               ("ink jet7", 'Match "[0-9]+"', "true"), ("ink(jet", 'Match "k\\(j"', "true")):
        row(_F + "Match", f"#{{v | {option}}}", {"v": value}, out)
    row(_F + "MatchWithVariableOptions", "#{v | Match #{pattern}}", {"v": "ink jet", "pattern": "jet"}, "true")
    _comparison_rows(row, "StartsWith", "ink", "nk", "ink j", "ink'")
    row(_F + "StartsWithWithVariableOptions", "#{v | StartsWith #{s}}", {"v": "ink jet", "s": "ink"}, "true")
    _comparison_rows(row, "EndsWith", "jet", "je", "k jet", "'jet")
    row(_F + "EndsWithWithWithVariableOptions", "#{v | EndsWith #{s}}", {"v": "ink jet", "s": "jet"}, "true")
    _comparison_rows(row, "Contains", "nk", "jk", "nk je", "k'j")
    row(_F + "ContainsWithWithVariableOptions", "#{v | Contains #{s}}", {"v": "ink jet", "s": "k j"}, "true")
    row(_F + "AppendDoesNotRequireAnArgument", "#{|Append tail}", {}, "tail")
    row(_F + "AppendRequiresAnOption", "#{v | Append}", {"v": "stem"}, "#{v | Append}")
    row(_F + "AppendRequiresAnOption", "#{ | Append}", {"v": "stem"}, "#{ | Append}")
    for options, added in (("tail", "tail"), ("t1 t2", "t1t2"), ('t1 " " t2', "t1 t2"), ('" " #{v} " " end', " stem end")):
        row(_F + "OptionsAreAppended", f"#{{v | Append {options}}}", {"v": "stem"}, "stem" + added)
    row(_F + "PrependDoesNotRequireAnArgument", "#{|Prepend head}", {}, "head")
    row(_F + "PrependRequiresAnOption", "#{v | Prepend}", {"v": "stem"}, "#{v | Prepend}")
    row(_F + "PrependRequiresAnOption", "#{ | Prepend}", {"v": "stem"}, "#{ | Prepend}")
    for options, added in (("head", "head"), ("h1 h2", "h1h2"), ('h1 " " h2', "h1 h2"), ('" " #{v} " " end', " stem end")):
        row(_F + "OptionsArePrepended", f"#{{v | Prepend {options}}}", {"v": "stem"}, added + "stem")
    for name in _DIGESTS:
        _hash_rows(row, name)
