package wincase_test

import (
	"fmt"

	"github.com/mailslot/mailslot/internal/wincase"
)

func ExampleFold() {
	fmt.Println(wincase.Fold(`taxes\école`))
	fmt.Println(wincase.Fold("ı") == wincase.Fold("I")) // Unicode folds them together; Windows does not
	// Output:
	// TAXES\ÉCOLE
	// false
}
