// SplitArgs: splits one line into arguments the way redis-cli and Redis's configuration
// file do (sdssplitargs): words separated by blanks; "double quoted" words accept
// \xHH, \n, \r, \t, \b, \a and \<char>; 'single quoted' words accept \' only;
// a closing quote must be followed by a blank or the end of the line.
//
// Thread-safety: a pure function.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace darter::resp {

// Returns false (and sets *error) on unbalanced quotes or a closing quote
// followed by a non-blank character.
bool SplitArgs(std::string_view line, std::vector<std::string>* args, std::string* error);

}  // namespace darter::resp
